//! The `purge` cases.

#[allow(unused_imports)]
use crate::{CaseResult, Ctx, fail};

/// This group's case list: the one place a case is named.
#[doc(hidden)]
#[macro_export]
macro_rules! __authstate_cases_purge {
    ($($mode:tt)*) => {
        $crate::__emit! { [$($mode)*] purge:
        }
    };
}
crate::__authstate_cases_purge!(list);
