//! The campaign as each A/B arm's recipients get it, made once per chunk: a variant's recipients are
//! rendered from the variant's template, so the renderer needs to know nothing of variants.

use crate::campaign::Campaign;

/// A campaign and its variants' views of it.
pub(super) struct ArmCampaigns<'a> {
    campaign: &'a Campaign,
    variants: Vec<(&'a str, Campaign)>,
}

impl<'a> ArmCampaigns<'a> {
    /// The views of `campaign`'s variants (none for a campaign without variants).
    pub(super) fn of(campaign: &'a Campaign) -> Self {
        let variants = campaign
            .variants
            .iter()
            .map(|variant| (variant.name.as_str(), campaign.as_variant(variant)))
            .collect();
        ArmCampaigns { campaign, variants }
    }

    /// The campaign itself.
    pub(super) fn campaign(&self) -> &'a Campaign {
        self.campaign
    }

    /// The campaign as arm `arm` gets it: a variant's view, or the campaign itself (no arm, the
    /// holdout, which is sent nothing).
    pub(super) fn for_arm(&self, arm: Option<&str>) -> &Campaign {
        arm.and_then(|arm| {
            self.variants
                .iter()
                .find(|(name, _)| *name == arm)
                .map(|(_, view)| view)
        })
        .unwrap_or(self.campaign)
    }
}
