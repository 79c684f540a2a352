//! The `at_rest` cases.

#[allow(unused_imports)]
use crate::{CaseResult, Ctx, fail};

/// This group's case list: the one place a case is named.
#[doc(hidden)]
#[macro_export]
macro_rules! __authstate_cases_at_rest {
    ($($mode:tt)*) => {
        $crate::__emit! { [$($mode)*] at_rest:
        }
    };
}
crate::__authstate_cases_at_rest!(list);
