//! The captive portal: the page a walled-garden subscriber's browser is sent to, saying
//! what went wrong with the dial-up login and how to fix it, with a "reconnect me"
//! button that ends the garden session at the NAS (RFC 5176 Disconnect-Request).

pub mod device;
pub mod disconnect;
pub mod identify;
pub mod texts;
