//! The credit rules' numbers (`FREE_CREDITS`, `RUN_COST`, `REFERRAL_CREDITS`).
//! The app reads them from its configuration; these are the documented defaults.

use levqor_core::Credits;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditRules {
    /// Granted once to every new user.
    pub free_credits: Credits,
    /// Reserved, then charged, per run.
    pub run_cost: Credits,
    /// Given to a referrer per rewarded sign-up.
    pub referral_credits: Credits,
}

impl Default for CreditRules {
    fn default() -> Self {
        Self { free_credits: Credits::new(50), run_cost: Credits::new(1), referral_credits: Credits::new(20) }
    }
}
