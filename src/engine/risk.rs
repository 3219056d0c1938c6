//! Pre-trade risk: every order, from strategies and manual entry alike, passes here before
//! it can reach an execution port. Approval is a type: ports accept only
//! [`RiskApproved<OrderRequest>`], and only this module can make one.

use std::ops::Deref;

/// A value the risk engine approved. It cannot be built outside this module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskApproved<T>(T);

impl<T> RiskApproved<T> {
    pub fn into_inner(self) -> T {
        self.0
    }

    /// For the crate's own unit tests of execution ports only.
    #[cfg(test)]
    pub(crate) fn assume_approved_for_test(value: T) -> Self {
        RiskApproved(value)
    }
}

impl<T> Deref for RiskApproved<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}
