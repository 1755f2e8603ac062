//! Credit packs: what can be bought and for how much. Prices are integers in the
//! currency's minor unit (cents), never floats.
//!
//! Configured as `PACKS="id:credits:price_minor:currency[:stripe_price_id],…"`, e.g.
//! `pack_100:100:900:usd,pack_500:500:3900:usd`; unset means the original's single
//! pack of 100 credits for USD 9.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreditPack {
    pub id: String,
    pub credits: i64,
    /// In the currency's minor unit: 900 is USD 9.00.
    pub price_minor: i64,
    /// ISO 4217, lowercase as Stripe wants it.
    pub currency: String,
    /// A Stripe Price to sell instead of inline price data, when one exists.
    #[serde(skip_serializing)]
    pub stripe_price_id: Option<String>,
}

impl CreditPack {
    /// The original's pack: 100 credits for USD 9.
    pub fn default_pack() -> Self {
        Self { id: "pack_100".into(), credits: 100, price_minor: 900, currency: "usd".into(), stripe_price_id: None }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackError {
    #[error("PACKS is empty")]
    Empty,
    #[error("pack {index}: `{entry}` is not `id:credits:price_minor:currency[:price_id]`")]
    Shape { index: usize, entry: String },
    #[error("pack {index}: id `{id}` must be 1–64 characters of a-z, 0-9, `_` or `-`")]
    Id { index: usize, id: String },
    #[error("pack `{id}`: credits must be a positive whole number, not `{value}`")]
    Credits { id: String, value: String },
    #[error("pack `{id}`: price must be a positive whole number of minor units, not `{value}`")]
    Price { id: String, value: String },
    #[error("pack `{id}`: currency must be a three-letter ISO code, not `{value}`")]
    Currency { id: String, value: String },
    #[error("pack `{id}`: `{value}` is not a Stripe price id (price_…)")]
    PriceId { id: String, value: String },
    #[error("pack `{id}` is defined twice")]
    Duplicate { id: String },
}

/// The configured packs, in configuration order; never empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Packs(Vec<CreditPack>);

impl Default for Packs {
    fn default() -> Self {
        Self(vec![CreditPack::default_pack()])
    }
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn positive(value: &str) -> Option<i64> {
    // Digits only: no sign, no decimal point, no exponent.
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse::<i64>().ok().filter(|n| *n > 0)
}

impl Packs {
    /// Parses a `PACKS` value; `None` or blank gives the default pack.
    pub fn from_config(value: Option<&str>) -> Result<Self, PackError> {
        match value.map(str::trim) {
            None | Some("") => Ok(Self::default()),
            Some(value) => Self::parse(value),
        }
    }

    pub fn parse(value: &str) -> Result<Self, PackError> {
        let mut packs: Vec<CreditPack> = Vec::new();
        for (i, entry) in value.split(',').enumerate() {
            let index = i + 1;
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let fields: Vec<&str> = entry.split(':').map(str::trim).collect();
            let [id, credits, price, currency, rest @ ..] = fields.as_slice() else {
                return Err(PackError::Shape { index, entry: entry.into() });
            };
            if rest.len() > 1 {
                return Err(PackError::Shape { index, entry: entry.into() });
            }
            if !valid_id(id) {
                return Err(PackError::Id { index, id: (*id).into() });
            }
            let id = (*id).to_owned();
            let credits =
                positive(credits).ok_or_else(|| PackError::Credits { id: id.clone(), value: (*credits).into() })?;
            let price_minor =
                positive(price).ok_or_else(|| PackError::Price { id: id.clone(), value: (*price).into() })?;
            if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(PackError::Currency { id, value: (*currency).into() });
            }
            let stripe_price_id = match rest.first() {
                None => None,
                Some(p) if p.starts_with("price_") && p.len() > 6 => Some((*p).to_owned()),
                Some(p) => {
                    return Err(PackError::PriceId { id, value: (*p).into() });
                }
            };
            if packs.iter().any(|p| p.id == id) {
                return Err(PackError::Duplicate { id });
            }
            packs.push(CreditPack {
                id,
                credits,
                price_minor,
                currency: currency.to_ascii_lowercase(),
                stripe_price_id,
            });
        }
        if packs.is_empty() {
            return Err(PackError::Empty);
        }
        Ok(Self(packs))
    }

    pub fn all(&self) -> &[CreditPack] {
        &self.0
    }

    pub fn get(&self, id: &str) -> Option<&CreditPack> {
        self.0.iter().find(|p| p.id == id)
    }

    /// The pack sold under a Stripe price id (the original's `price_id` form).
    pub fn by_price_id(&self, price_id: &str) -> Option<&CreditPack> {
        self.0.iter().find(|p| p.stripe_price_id.as_deref() == Some(price_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_the_originals_pack() {
        let packs = Packs::from_config(None).unwrap();
        assert_eq!(packs, Packs::from_config(Some("  ")).unwrap());
        assert_eq!(packs.all(), &[CreditPack::default_pack()]);
        let pack = packs.get("pack_100").unwrap();
        assert_eq!((pack.credits, pack.price_minor), (100, 900));
        assert_eq!(pack.currency, "usd");
        assert_eq!(
            serde_json::to_value(&packs).unwrap(),
            serde_json::json!([{"id": "pack_100", "credits": 100, "price_minor": 900, "currency": "usd"}])
        );
    }

    #[test]
    fn parses_several() {
        let packs = Packs::parse("pack_100:100:900:usd, pack_500:500:3900:USD:price_123abc,").unwrap();
        assert_eq!(packs.all().len(), 2);
        let big = packs.get("pack_500").unwrap();
        assert_eq!(big.currency, "usd");
        assert_eq!(big.stripe_price_id.as_deref(), Some("price_123abc"));
        assert_eq!(packs.by_price_id("price_123abc"), Some(big));
        assert_eq!(packs.get("pack_1"), None);
    }

    #[test]
    fn clear_errors() {
        let err = |s: &str| Packs::parse(s).unwrap_err();
        assert_eq!(err(""), PackError::Empty);
        assert_eq!(err(" , "), PackError::Empty);
        assert!(matches!(err("pack_100:100:900"), PackError::Shape { index: 1, .. }));
        assert!(matches!(err("a:1:1:usd,b:1:1:usd:price_x:extra"), PackError::Shape { index: 2, .. }));
        assert!(matches!(err("Pack!:1:1:usd"), PackError::Id { .. }));
        assert!(matches!(err("p:0:900:usd"), PackError::Credits { .. }));
        assert!(matches!(err("p:-5:900:usd"), PackError::Credits { .. }));
        assert!(matches!(err("p:10:9.00:usd"), PackError::Price { .. }));
        assert!(matches!(err("p:10:900:dollars"), PackError::Currency { .. }));
        assert!(matches!(err("p:10:900:usd:prod_1"), PackError::PriceId { .. }));
        assert_eq!(err("p:1:1:usd,p:2:2:usd"), PackError::Duplicate { id: "p".into() });
        let message = err("p:10:9.00:usd").to_string();
        assert!(message.contains("9.00"), "{message}");
    }
}
