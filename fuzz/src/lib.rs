//! What the fuzz targets share: a deployment with every platform configured, and the checks one
//! webhook delivery must pass whatever its body.

pub mod webhook_delivery;
