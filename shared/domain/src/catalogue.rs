//! The Briks Softbrik sells, per user per month, net of VAT. The default catalogue is seeded in
//! every environment and the platform operator can edit it; prices stay between 6.00 and
//! 10.00 (billing.md, "Money").

use serde::{Deserialize, Serialize};

use crate::money::Money;
use crate::validation::{ValidationErrors, codes};
use crate::values::{BrikId, Language};

pub const MIN_MONTHLY_PRICE: Money = Money::from_cents(600);
pub const MAX_MONTHLY_PRICE: Money = Money::from_cents(1000);

const FILES: BrikId = BrikId::from_static("files");
const STOCK: BrikId = BrikId::from_static("stock");
const CARE: BrikId = BrikId::from_static("care");

/// A business module, sold per user per month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Brik {
    pub id: BrikId,
    /// The English name; see [`Brik::name_in`] for the others.
    pub name: String,
    pub description: String,
    /// Net of VAT, per user per month.
    pub monthly_price: Money,
}

impl Brik {
    /// The name in `lang`: the translations of the default Briks, else [`Brik::name`].
    pub fn name_in(&self, lang: Language) -> &str {
        match (self.id.as_str(), lang) {
            ("files", Language::Fr) => "Stockage de fichiers",
            ("files", Language::Da) => "Fillagring",
            ("stock", Language::Fr) => "Gestion des stocks",
            ("stock", Language::Da) => "Lagerstyring",
            ("care", Language::Fr) => "Service client automatisé",
            ("care", Language::Da) => "Automatiseret kundeservice",
            _ => &self.name,
        }
    }

    /// Checks an operator's edit: a one-line name of at most 200 characters, a description
    /// of at most 2,000, and a price between 6.00 and 10.00.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let name = self.name.trim();
        if name.is_empty() {
            errors.push("name", codes::REQUIRED, "must not be empty");
        } else if name.chars().any(char::is_control) {
            errors.push(
                "name",
                codes::CONTROL_CHARACTERS,
                "must not contain control characters",
            );
        } else if name.chars().count() > 200 {
            errors.push("name", codes::TOO_LONG, "must be at most 200 characters");
        }
        if self.description.chars().count() > 2000 {
            errors.push(
                "description",
                codes::TOO_LONG,
                "must be at most 2000 characters",
            );
        }
        if !(MIN_MONTHLY_PRICE..=MAX_MONTHLY_PRICE).contains(&self.monthly_price) {
            errors.push(
                "monthly_price",
                codes::OUT_OF_RANGE,
                "must be between 6.00 and 10.00",
            );
        }
        errors.into_result()
    }
}

/// The catalogue every environment starts with.
pub fn default_catalogue() -> Vec<Brik> {
    vec![
        Brik {
            id: FILES,
            name: "File storage".to_owned(),
            description: "Store, share and find the company's documents.".to_owned(),
            monthly_price: Money::from_cents(600),
        },
        Brik {
            id: STOCK,
            name: "Inventory".to_owned(),
            description: "Track stock levels, movements and reorders.".to_owned(),
            monthly_price: Money::from_cents(800),
        },
        Brik {
            id: CARE,
            name: "Automated customer service".to_owned(),
            description: "Answer customers' common questions automatically, day and night."
                .to_owned(),
            monthly_price: Money::from_cents(1000),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brik(id: &str) -> Brik {
        default_catalogue()
            .into_iter()
            .find(|brik| brik.id.as_str() == id)
            .unwrap()
    }

    #[test]
    fn the_default_catalogue_sells_files_stock_and_care() {
        let prices: Vec<_> = default_catalogue()
            .iter()
            .map(|brik| {
                (
                    brik.id.to_string(),
                    brik.name.clone(),
                    brik.monthly_price.to_string(),
                )
            })
            .collect();
        let expected = [
            ("files", "File storage", "6.00"),
            ("stock", "Inventory", "8.00"),
            ("care", "Automated customer service", "10.00"),
        ]
        .map(|(id, name, price)| (id.to_owned(), name.to_owned(), price.to_owned()));
        assert_eq!(prices, expected);
        assert!(
            default_catalogue()
                .iter()
                .all(|brik| brik.validate().is_ok())
        );
    }

    #[test]
    fn brik_names_are_translated_to_french_and_danish() {
        assert_eq!(brik("files").name_in(Language::Fr), "Stockage de fichiers");
        assert_eq!(brik("stock").name_in(Language::Fr), "Gestion des stocks");
        assert_eq!(
            brik("care").name_in(Language::Fr),
            "Service client automatisé"
        );
        assert_eq!(brik("files").name_in(Language::Da), "Fillagring");
        assert_eq!(brik("stock").name_in(Language::Da), "Lagerstyring");
        assert_eq!(
            brik("care").name_in(Language::Da),
            "Automatiseret kundeservice"
        );
        assert_eq!(
            brik("care").name_in(Language::En),
            "Automated customer service"
        );
    }

    #[test]
    fn a_brik_the_operator_added_keeps_its_name_in_every_language() {
        let mailing = Brik {
            id: BrikId::parse("mailing").unwrap(),
            name: "E-mailing".to_owned(),
            description: String::new(),
            monthly_price: Money::from_cents(700),
        };
        assert_eq!(mailing.name_in(Language::Fr), "E-mailing");
    }

    #[test]
    fn catalogue_prices_stay_between_6_and_10() {
        let mut stock = brik("stock");
        stock.monthly_price = Money::from_cents(1001);
        let errors = stock.validate().unwrap_err();
        assert_eq!(errors.as_slice()[0].field, "monthly_price");
        assert_eq!(errors.as_slice()[0].code, "out_of_range");
        stock.monthly_price = Money::from_cents(599);
        assert!(stock.validate().is_err());
    }

    #[test]
    fn a_brik_round_trips_through_json() {
        let json = serde_json::to_value(brik("stock")).unwrap();
        assert_eq!(json["monthly_price"], "8.00");
        assert_eq!(serde_json::from_value::<Brik>(json).unwrap(), brik("stock"));
    }
}
