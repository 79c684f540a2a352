//! The `concurrency` cases.

#[allow(unused_imports)]
use crate::{CaseResult, Ctx, fail};

/// This group's case list: the one place a case is named.
#[doc(hidden)]
#[macro_export]
macro_rules! __authstate_cases_concurrency {
    ($($mode:tt)*) => {
        $crate::__emit! { [$($mode)*] concurrency:
        }
    };
}
crate::__authstate_cases_concurrency!(list);
