//! The validated representation of a message type, keeping the original `syn` nodes for
//! spans: `from_syn`, then `valid::validate`, then `expand`.

use syn::{Data, DeriveInput, Fields, Generics, Ident, Member, Type};

use crate::{attr, ctxt::Ctxt};

pub(crate) struct Container<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) attrs: attr::Container,
    pub(crate) data: Body<'a>,
    pub(crate) generics: &'a Generics,
    pub(crate) original: &'a DeriveInput,
}

pub(crate) enum Body<'a> {
    Enum(Vec<Variant<'a>>),
    Struct(Style, Vec<Field<'a>>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Named,
    Tuple,
    Unit,
}

impl Style {
    fn of(fields: &Fields) -> Style {
        match fields {
            Fields::Named(_) => Style::Named,
            Fields::Unnamed(_) => Style::Tuple,
            Fields::Unit => Style::Unit,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Style::Named => "named",
            Style::Tuple => "tuple",
            Style::Unit => "unit",
        }
    }
}

pub(crate) struct Variant<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) attrs: attr::Variant,
    pub(crate) style: Style,
    pub(crate) fields: Vec<Field<'a>>,
    pub(crate) original: &'a syn::Variant,
}

pub(crate) struct Field<'a> {
    pub(crate) member: Member,
    pub(crate) attrs: attr::Field,
    pub(crate) ty: &'a Type,
}

impl Field<'_> {
    /// The field's name for error messages and JSON keys: `name`, or `0` for tuple fields.
    pub(crate) fn name(&self) -> String {
        match &self.member {
            Member::Named(ident) => ident.to_string(),
            Member::Unnamed(index) => index.index.to_string(),
        }
    }
}

fn fields_from_syn<'a>(cx: &Ctxt, fields: &'a Fields) -> Vec<Field<'a>> {
    fields
        .iter()
        .enumerate()
        .map(|(i, field)| Field {
            member: match &field.ident {
                Some(ident) => Member::Named(ident.clone()),
                None => Member::Unnamed(i.into()),
            },
            attrs: attr::Field::from_attrs(cx, &field.attrs),
            ty: &field.ty,
        })
        .collect()
}

impl<'a> Container<'a> {
    pub(crate) fn from_syn(cx: &Ctxt, input: &'a DeriveInput) -> Option<Container<'a>> {
        let attrs = attr::Container::from_attrs(cx, &input.attrs);
        let data = match &input.data {
            Data::Enum(data) => Body::Enum(
                data.variants
                    .iter()
                    .map(|variant| Variant {
                        ident: &variant.ident,
                        attrs: attr::Variant::from_attrs(cx, &variant.attrs),
                        style: Style::of(&variant.fields),
                        fields: fields_from_syn(cx, &variant.fields),
                        original: variant,
                    })
                    .collect(),
            ),
            Data::Struct(data) => {
                Body::Struct(Style::of(&data.fields), fields_from_syn(cx, &data.fields))
            }
            Data::Union(_) => {
                cx.error_spanned_by(
                    input,
                    "#[derive(Message)] works on enums and structs, not unions",
                );
                return None;
            }
        };
        Some(Container {
            ident: &input.ident,
            attrs,
            data,
            generics: &input.generics,
            original: input,
        })
    }
}
