//! Protocol number enums that keep values they have no name for.

/// Declares a field enum with named values plus `Unknown(raw)`, converting both ways, so that
/// a received value survives parse and emit unchanged (after smoltcp's `enum_with_unknown!`).
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident($repr:ty) {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value without a name here, kept as received.
            Unknown($repr),
        }

        impl $name {
            /// The value as sent on the wire.
            pub fn value(self) -> $repr {
                <$repr>::from(self)
            }

            /// The value's name as the registry spells it (`NO_PROPOSAL_CHOSEN`), derived from
            /// the variant's name; `None` for a value without a name here.
            pub fn registry_name(self) -> Option<String> {
                match self {
                    $( $name::$variant => Some($crate::wire::screaming_snake(stringify!($variant))), )+
                    $name::Unknown(_) => None,
                }
            }
        }

        impl From<$repr> for $name {
            fn from(value: $repr) -> Self {
                match value {
                    $( $value => $name::$variant, )+
                    other => $name::Unknown(other),
                }
            }
        }

        impl From<$name> for $repr {
            fn from(value: $name) -> Self {
                match value {
                    $( $name::$variant => $value, )+
                    $name::Unknown(other) => other,
                }
            }
        }
    };
}
