//! Which VAT an invoice carries (billing.md, "Invoices"): decided by the issuer's and the
//! customer's countries and the customer's VAT number, computed once on the net total.
//! Only an issuer inside the EU is supported: these are the EU's VAT rules.

use rust_decimal::Decimal;
use serde::{Serialize, Serializer};

use crate::money::Money;
use crate::values::{Country, VatNumber};

/// The mention an invoice must carry when the customer accounts for the VAT.
pub const REVERSE_CHARGE_MENTION: &str = "Reverse charge / Autoliquidation";

/// The VAT an invoice applies: a rate in percent (`20` for 20 %), and whether the customer
/// self-accounts for it (reverse charge, at rate 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct VatTreatment {
    #[serde(serialize_with = "serialize_rate")]
    pub rate: Decimal,
    pub reverse_charge: bool,
}

impl VatTreatment {
    /// VAT charged at `rate` percent.
    pub fn charged(rate: Decimal) -> Self {
        Self {
            rate,
            reverse_charge: false,
        }
    }

    /// Outside the scope of EU VAT: 0 %, no mention.
    pub fn none() -> Self {
        Self::charged(Decimal::ZERO)
    }

    pub fn reverse_charge() -> Self {
        Self {
            rate: Decimal::ZERO,
            reverse_charge: true,
        }
    }

    /// The legal mention the invoice prints, if any.
    pub fn mention(&self) -> Option<&'static str> {
        self.reverse_charge.then_some(REVERSE_CHARGE_MENTION)
    }
}

/// The VAT for an invoice from `issuer` to a customer in `customer`:
/// - same country: that country's standard rate;
/// - another EU country, with a VAT number: reverse charge, 0 %;
/// - another EU country, without: the customer's country's standard rate;
/// - outside the EU: 0 %.
///
/// An issuer outside the EU gets 0 % everywhere: configuration should not allow one.
pub fn vat_treatment(
    issuer: &Country,
    customer: &Country,
    customer_vat_number: Option<&VatNumber>,
) -> VatTreatment {
    let standard = |country: &Country| {
        standard_rate(country).map_or_else(VatTreatment::none, VatTreatment::charged)
    };
    if !issuer.is_eu() || !customer.is_eu() {
        VatTreatment::none()
    } else if issuer == customer {
        standard(customer)
    } else if customer_vat_number.is_some() {
        VatTreatment::reverse_charge()
    } else {
        standard(customer)
    }
}

/// The standard VAT rate, in percent, of an EU member state (rates in force in 2026);
/// `None` outside the EU.
pub fn standard_rate(country: &Country) -> Option<Decimal> {
    let percent = match country.code() {
        "FI" => return Some(Decimal::new(255, 1)),
        "HU" => 27,
        "DK" | "HR" | "SE" => 25,
        "EE" | "GR" => 24,
        "IE" | "PL" | "PT" | "SK" => 23,
        "IT" | "SI" => 22,
        "BE" | "CZ" | "ES" | "LT" | "LV" | "NL" | "RO" => 21,
        "AT" | "BG" | "FR" => 20,
        "CY" | "DE" => 19,
        "MT" => 18,
        "LU" => 17,
        _ => return None,
    };
    Some(Decimal::from(percent))
}

/// VAT on an invoice's net total, rounded half-up once (never line by line).
pub fn vat_amount(net: Money, treatment: &VatTreatment) -> Money {
    Money::round_to_cent(net.amount() * treatment.rate / Decimal::ONE_HUNDRED)
}

/// Writes a rate as the API does, with two decimals: `"20.00"`, `"25.50"`.
pub(crate) fn serialize_rate<S: Serializer>(
    rate: &Decimal,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&format_args!("{rate:.2}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn country(code: &str) -> Country {
        Country::parse(code).unwrap()
    }

    fn vat_number(raw: &str) -> VatNumber {
        VatNumber::parse(raw).unwrap()
    }

    #[test]
    fn same_country_pays_that_countrys_standard_rate() {
        let dk = vat_treatment(
            &country("DK"),
            &country("DK"),
            Some(&vat_number("DK12345678")),
        );
        assert_eq!(dk, VatTreatment::charged(dec!(25)));
        let fr = vat_treatment(&country("FR"), &country("FR"), None);
        assert_eq!(fr, VatTreatment::charged(dec!(20)));
        assert_eq!(fr.mention(), None);
    }

    #[test]
    fn another_eu_country_with_a_vat_number_is_reverse_charged() {
        let de = vat_treatment(
            &country("DK"),
            &country("DE"),
            Some(&vat_number("DE123456789")),
        );
        assert_eq!(de.rate, Decimal::ZERO);
        assert!(de.reverse_charge);
        assert_eq!(de.mention(), Some("Reverse charge / Autoliquidation"));
    }

    #[test]
    fn another_eu_country_without_a_vat_number_pays_the_customers_rate() {
        let de = vat_treatment(&country("DK"), &country("DE"), None);
        assert_eq!(de, VatTreatment::charged(dec!(19)));
        let fi = vat_treatment(&country("DK"), &country("FI"), None);
        assert_eq!(fi.rate, dec!(25.5));
    }

    #[test]
    fn outside_the_eu_is_zero_rated_without_mention() {
        for outside in ["US", "GB", "NO", "CH"] {
            let treatment = vat_treatment(&country("DK"), &country(outside), None);
            assert_eq!(treatment, VatTreatment::none(), "{outside}");
            assert_eq!(treatment.mention(), None);
        }
    }

    #[test]
    fn every_eu_member_state_has_a_standard_rate_and_no_other_country_does() {
        #[rustfmt::skip]
        let rates = [
            ("AT", dec!(20)), ("BE", dec!(21)), ("BG", dec!(20)), ("HR", dec!(25)),
            ("CY", dec!(19)), ("CZ", dec!(21)), ("DK", dec!(25)), ("EE", dec!(24)),
            ("FI", dec!(25.5)), ("FR", dec!(20)), ("DE", dec!(19)), ("GR", dec!(24)),
            ("HU", dec!(27)), ("IE", dec!(23)), ("IT", dec!(22)), ("LV", dec!(21)),
            ("LT", dec!(21)), ("LU", dec!(17)), ("MT", dec!(18)), ("NL", dec!(21)),
            ("PL", dec!(23)), ("PT", dec!(23)), ("RO", dec!(21)), ("SK", dec!(23)),
            ("SI", dec!(22)), ("ES", dec!(21)), ("SE", dec!(25)),
        ];
        for (code, rate) in rates {
            assert_eq!(standard_rate(&country(code)), Some(rate), "{code}");
            assert!(country(code).is_eu());
        }
        assert_eq!(standard_rate(&country("NO")), None);
        assert_eq!(standard_rate(&country("GB")), None);
    }

    #[test]
    fn vat_is_computed_on_the_net_total_and_rounded_half_up_once() {
        let fr = VatTreatment::charged(dec!(20));
        assert_eq!(
            vat_amount(Money::from_cents(1600), &fr),
            Money::from_cents(320)
        );
        // 5.94 x 25.5 % = 1.5147 -> 1.51; 0.10 x 25 % = 0.025 -> 0.03
        let fi = VatTreatment::charged(dec!(25.5));
        assert_eq!(
            vat_amount(Money::from_cents(594), &fi),
            Money::from_cents(151)
        );
        let dk = VatTreatment::charged(dec!(25));
        assert_eq!(vat_amount(Money::from_cents(10), &dk), Money::from_cents(3));
        assert_eq!(
            vat_amount(Money::from_cents(1600), &VatTreatment::reverse_charge()),
            Money::zero()
        );
    }

    #[test]
    fn a_rate_is_written_with_two_decimals() {
        let json = serde_json::to_value(VatTreatment::charged(dec!(25.5))).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"rate": "25.50", "reverse_charge": false})
        );
    }
}
