//! `radcare decode` and `radcare classify`: one packet, given as hex.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::secret::SecretOption;

use radcare::config::Action;
use radcare::dict::{Dictionary, VENDOR_NONE};
use radcare::wire::crypto::{self, MaStatus};
use radcare::wire::{Code, Packet};

fn parse_hex(s: &str) -> Result<Vec<u8>> {
    let clean: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    let clean = clean.strip_prefix("0x").unwrap_or(&clean);
    hex::decode(clean).context("not valid hex")
}

fn parse_auth(s: &str) -> Result<[u8; 16]> {
    parse_hex(s)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("a request authenticator is 16 octets (32 hex digits)"))
}

#[derive(Args)]
pub struct DecodeArgs {
    /// To verify the authenticators.
    #[command(flatten)]
    secret: SecretOption,
    /// The request's authenticator (hex), to verify a reply.
    #[arg(long)]
    request_authenticator: Option<String>,
    /// Dictionary tree to use instead of the built-in one.
    #[arg(long)]
    dictionary: Option<PathBuf>,
    hex: String,
}

pub fn decode(args: DecodeArgs) -> Result<ExitCode> {
    let secret = args.secret.get()?;
    let (request_auth, dictionary) = (args.request_authenticator, args.dictionary);
    let bytes = parse_hex(&args.hex)?;
    let p = Packet::new_checked(&bytes[..]).context("not a RADIUS packet")?;
    let dict = match dictionary {
        Some(path) => Dictionary::load(&path)?,
        None => Dictionary::builtin()?,
    };
    let req_auth = request_auth.as_deref().map(parse_auth).transpose()?;
    println!(
        "code={} id={} length={}",
        p.code().name(),
        p.identifier(),
        p.length()
    );
    let malformed_ma =
        crypto::locate_message_authenticator(p.as_bytes()) == crypto::MaField::Malformed;
    if malformed_ma {
        println!(
            "message-authenticator=malformed (attribute 80 must be 18 octets; radcare and FreeRADIUS drop such a packet)"
        );
    }
    if let Some(secret) = &secret {
        let s = secret.as_bytes();
        let auth = if p.code().has_hashed_request_authenticator() {
            verdict(crypto::verify_hashed_request(p.as_bytes(), s))
        } else if p.code().is_response() {
            match &req_auth {
                Some(ra) => verdict(crypto::verify_response(p.as_bytes(), ra, s)),
                None => "unverified (give --request-authenticator)",
            }
        } else {
            "nonce (a request authenticator is random)"
        };
        println!("authenticator={auth}");
        let ma = crypto::verify_message_authenticator(p.as_bytes(), req_auth.as_ref(), s);
        let ma = match (ma, p.code().is_response(), &req_auth) {
            (MaStatus::Absent, ..) => "absent",
            (_, true, None) => "unverified (give --request-authenticator)",
            (m, ..) => m.as_str(),
        };
        if !malformed_ma {
            println!("message-authenticator={ma}");
        }
    }
    for a in p.attrs() {
        if let Some(vsa) = a.vsa() {
            for s in vsa.subs() {
                match s {
                    Ok(s) => println!(
                        "{}",
                        describe(&dict, vsa.vendor, s.typ, s.value, &p, secret.as_deref())
                    ),
                    Err(_) => println!("Vendor-Specific = 0x{} (malformed)", hex::encode(a.value)),
                }
            }
        } else {
            println!(
                "{}",
                describe(
                    &dict,
                    VENDOR_NONE,
                    u32::from(a.typ),
                    a.value,
                    &p,
                    secret.as_deref()
                )
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "valid" } else { "invalid" }
}

fn describe(
    dict: &Dictionary,
    vendor: u32,
    typ: u32,
    value: &[u8],
    p: &Packet<&[u8]>,
    secret: Option<&str>,
) -> String {
    let Some(def) = dict.attr(vendor, typ) else {
        let name = if vendor == VENDOR_NONE {
            format!("Attr-{typ}")
        } else {
            format!("Attr-26.{vendor}.{typ}")
        };
        return format!("{name} = 0x{}", hex::encode(value));
    };
    if vendor == VENDOR_NONE && typ == u32::from(radcare::wire::attr::types::USER_PASSWORD) {
        // Never print a password; say whether it un-hides to text with this secret.
        let note = match secret {
            Some(s) if p.code() == Code::AccessRequest => {
                let mut out = [0u8; crypto::MAX_PASSWORD_LEN];
                match crypto::unhide_password(value, s.as_bytes(), p.authenticator(), &mut out) {
                    Ok(n)
                        if std::str::from_utf8(&out[..n])
                            .is_ok_and(|t| !t.chars().any(char::is_control)) =>
                    {
                        format!("<hidden, {n} characters>")
                    }
                    _ => "<hidden, does not un-hide to text with this secret>".into(),
                }
            }
            _ => format!("<hidden, {} octets>", value.len()),
        };
        return format!("{} = {note}", def.name);
    }
    format!("{} = {}", def.name, dict.format_value(def, value))
}

#[derive(Args)]
pub struct ClassifyArgs {
    /// Config whose cause table to use; the built-in one otherwise.
    #[arg(long)]
    config: Option<PathBuf>,
    /// With --request-authenticator: verify the Reject's authenticators.
    #[command(flatten)]
    secret: SecretOption,
    /// The request's authenticator (hex), with a secret.
    #[arg(long)]
    request_authenticator: Option<String>,
    /// The request's User-Name: a Reply-Message that echoes it is not read as a cause.
    #[arg(long)]
    user: Option<String>,
    hex: String,
}

pub fn classify(args: ClassifyArgs) -> Result<ExitCode> {
    let secret = args.secret.get()?;
    let request_auth = args.request_authenticator;
    if request_auth.is_some() && secret.is_none() {
        bail!("--request-authenticator needs a secret (-S FILE, RADCARE_SECRET or --secret)");
    }
    let loaded = match super::load_config(args.config.as_deref()) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let bytes = parse_hex(&args.hex)?;
    let p = Packet::new_checked(&bytes[..]).context("not a RADIUS packet")?;
    let user = args.user.as_deref().unwrap_or("");
    let c = loaded
        .policy
        .classify(p.as_bytes(), user.as_bytes(), &loaded.dict);
    println!("cause={}", c.id);
    println!(
        "action={}",
        match c.action {
            Action::Rewrite => "rewrite",
            Action::Pass => "pass",
            Action::Redial => "redial",
        }
    );
    if c.action == Action::Redial {
        let r = &loaded.policy.redial;
        println!(
            "note=ambiguous: rewritten only once the same subscriber (User-Name, Calling-Station-Id, NAS) is rejected {} times within {} ([policy.redial]); passed before",
            r.rejects,
            humantime::format_duration(r.window)
        );
    }
    println!("why={}", c.why);
    if !c.reason.is_empty() {
        println!("reason={:?}", c.reason);
    }
    if p.code() != Code::AccessReject {
        println!("note=packet is a {}, not an Access-Reject", p.code().name());
    }
    if let (Some(s), Some(ra)) = (secret, request_auth) {
        let ra = parse_auth(&ra)?;
        println!(
            "authenticator={}",
            verdict(crypto::verify_response(p.as_bytes(), &ra, s.as_bytes()))
        );
        let ma = crypto::verify_message_authenticator(p.as_bytes(), Some(&ra), s.as_bytes());
        println!("message-authenticator={}", ma.as_str());
    }
    Ok(ExitCode::SUCCESS)
}
