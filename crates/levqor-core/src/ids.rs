//! Typed identifiers. Ids are opaque strings on the wire; inside Levqor they are
//! UUIDv7 (time-ordered, so primary-key indexes stay append-mostly).

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a valid id")]
pub struct IdError(pub String);

/// Defines a UUIDv7 id newtype: `Display`/`FromStr` as the hyphenated UUID, serde
/// as a string, `new()` time-ordered. Every Levqor crate defines its ids with it.
#[macro_export]
macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(::uuid::Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(::uuid::Uuid::now_v7())
            }

            pub fn as_uuid(&self) -> &::uuid::Uuid {
                &self.0
            }
        }

        impl ::std::default::Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(&self.0.as_hyphenated(), f)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                ::uuid::Uuid::parse_str(s).map(Self).map_err(|_| $crate::IdError(s.chars().take(64).collect()))
            }
        }

        impl ::std::convert::TryFrom<String> for $name {
            type Error = $crate::IdError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl ::std::convert::From<$name> for String {
            fn from(id: $name) -> String {
                id.to_string()
            }
        }
    };
}

define_id!(
    /// A Levqor user.
    UserId
);
define_id!(
    /// An API key (its public id, never the secret).
    ApiKeyId
);
define_id!(
    /// A user's stored connection to a connector (its credentials are sealed).
    ConnectionId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_strings() {
        let id = UserId::new();
        let parsed: UserId = id.to_string().parse().unwrap();
        assert_eq!(id, parsed);
    }

    #[test]
    fn garbage_is_not_an_id() {
        assert!("not-an-id".parse::<UserId>().is_err());
        assert!("".parse::<ApiKeyId>().is_err());
    }

    #[test]
    fn new_ids_are_time_ordered() {
        let a = UserId::new();
        let b = UserId::new();
        assert!(a < b);
    }
}
