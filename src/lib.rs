// pub mod dict; (being written)
pub mod wire;
