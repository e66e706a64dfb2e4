//! The subscriptions component: its route table over the core.

use spin_adapter::SpinStore;
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;
use spinpost::secret::Secret;
use spinpost::web::Router;

/// What the handlers reach the world through.
pub struct Context {
    store: SpinStore,
    admin_token: Secret,
}

impl Context {
    fn from_spin() -> spinpost::Result<Self> {
        Ok(Context { store: SpinStore::open_default()?, admin_token: spin_adapter::secret("admin_token") })
    }
}

fn routes() -> Router<Context> {
    Router::new()
}

#[http_component]
fn handle(request: Request) -> Response {
    spin_adapter::serve(request, Context::from_spin, &routes())
}
