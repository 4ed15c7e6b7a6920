//! What kind of device asks, from its User-Agent: which page layout (phone, tablet,
//! desktop, or plain text for programs that are not browsers) and which OS's steps.
//!
//! woothee does the parsing (a few microseconds a UA, no regex file to load); the rules
//! it does not know are ours: iPads and Android tablets are tablets, iPadOS Safari (which
//! sends a Macintosh UA) is a desktop, and web views without a browser token (Apple's
//! captive-network sheet, in-app browsers) are still browsers.

/// The page layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    Phone,
    Tablet,
    Desktop,
    /// Not a browser (curl, wget, router firmware, no User-Agent): a text/plain answer.
    Text,
}

impl Device {
    /// The value of `data-device` and of the log field.
    pub fn as_str(self) -> &'static str {
        match self {
            Device::Phone => "phone",
            Device::Tablet => "tablet",
            Device::Desktop => "desktop",
            Device::Text => "text",
        }
    }

    pub fn is_browser(self) -> bool {
        self != Device::Text
    }
}

/// The operating system, for the steps that differ between systems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    Ios,
    Android,
    Windows,
    Macos,
    Linux,
    Other,
}

impl Os {
    pub fn as_str(self) -> &'static str {
        match self {
            Os::Ios => "ios",
            Os::Android => "android",
            Os::Windows => "windows",
            Os::Macos => "macos",
            Os::Linux => "linux",
            Os::Other => "other",
        }
    }

    /// Phones and tablets reach the internet through the router's Wi-Fi: they never
    /// dial PPPoE themselves.
    pub fn is_mobile(self) -> bool {
        matches!(self, Os::Ios | Os::Android)
    }
}

/// Device and OS of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agent {
    pub device: Device,
    pub os: Os,
}

impl Agent {
    pub fn from_user_agent(ua: Option<&str>) -> Agent {
        let text = Agent {
            device: Device::Text,
            os: Os::Other,
        };
        let Some(ua) = ua.map(str::trim).filter(|u| !u.is_empty()) else {
            return text;
        };
        let parsed = woothee::parser::Parser::new().parse(ua);
        let (category, os_name) = parsed.as_ref().map_or(("", ""), |r| (r.category, r.os));
        let browser = match category {
            "pc" | "smartphone" | "mobilephone" | "appliance" => true,
            // Web views and sheets without a browser token: Mozilla/5.0 plus a known OS.
            _ => ua.starts_with("Mozilla/") && os_of(ua, os_name) != Os::Other,
        };
        if !browser {
            return text;
        }
        let os = os_of(ua, os_name);
        let device = if ua.contains("iPad") || (os == Os::Android && !ua.contains("Mobile")) {
            Device::Tablet
        } else if matches!(category, "smartphone" | "mobilephone")
            || ua.contains("iPhone")
            || ua.contains("iPod")
            || (os == Os::Android && ua.contains("Mobile"))
        {
            Device::Phone
        } else {
            Device::Desktop
        };
        Agent { device, os }
    }
}

fn os_of(ua: &str, woothee_os: &str) -> Os {
    match woothee_os {
        "iPhone" | "iPad" | "iPod" | "iOS" => return Os::Ios,
        "Android" => return Os::Android,
        "Mac OSX" => return Os::Macos,
        "Linux" | "ChromeOS" => {}
        w if w.starts_with("Windows") && w != "Windows Phone OS" && w != "Windows CE" => {
            return Os::Windows;
        }
        _ => {}
    }
    // HarmonyOS phones say "HarmonyOS" or "OpenHarmony"; their Wi-Fi steps are Android's.
    if ua.contains("Android") || ua.contains("HarmonyOS") || ua.contains("OpenHarmony") {
        Os::Android
    } else if ua.contains("iPhone") || ua.contains("iPad") || ua.contains("iPod") {
        Os::Ios
    } else if ua.contains("Windows NT") {
        Os::Windows
    } else if ua.contains("Macintosh") || ua.contains("Mac OS X") {
        Os::Macos
    } else if ua.contains("Linux") || ua.contains("X11") || ua.contains("CrOS") {
        Os::Linux
    } else {
        Os::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) \
        AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
    const IPHONE_CNA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) \
        AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148";
    const IPAD_OLD: &str = "Mozilla/5.0 (iPad; CPU OS 12_2 like Mac OS X) AppleWebKit/605.1.15 \
        (KHTML, like Gecko) Version/12.1 Mobile/15E148 Safari/604.1";
    const IPADOS: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 \
        (KHTML, like Gecko) Version/17.4 Safari/605.1.15";
    const ANDROID_PHONE: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 \
        (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36";
    const ANDROID_TABLET: &str = "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 \
        (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
    const WECHAT: &str = "Mozilla/5.0 (Linux; Android 12; V2049A Build/SP1A.210812.003; wv) \
        AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/86.0.4240.99 XWEB/4317 \
        MMWEBSDK/20220903 Mobile Safari/537.36 MMWEBID/1234 MicroMessenger/8.0.28.2240(0x28001C57) \
        WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64";
    const HARMONY: &str = "Mozilla/5.0 (Phone; OpenHarmony 4.0) AppleWebKit/537.36 (KHTML, like \
        Gecko) Chrome/114.0.0.0 Safari/537.36 ArkWeb/4.1.6.1 Mobile HuaweiBrowser/5.0.3.300";
    const WIN_CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
        (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
    const WIN_FIREFOX: &str =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0";
    const MAC_CHROME: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 \
        (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
    const LINUX_FIREFOX: &str =
        "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0";

    fn agent(ua: &str) -> (Device, Os) {
        let a = Agent::from_user_agent(Some(ua));
        (a.device, a.os)
    }

    #[test]
    fn phones() {
        assert_eq!(agent(IPHONE), (Device::Phone, Os::Ios));
        assert_eq!(agent(IPHONE_CNA), (Device::Phone, Os::Ios));
        assert_eq!(agent(ANDROID_PHONE), (Device::Phone, Os::Android));
        assert_eq!(agent(WECHAT), (Device::Phone, Os::Android));
        assert_eq!(agent(HARMONY), (Device::Phone, Os::Android));
    }

    #[test]
    fn tablets_and_ipados() {
        assert_eq!(agent(IPAD_OLD), (Device::Tablet, Os::Ios));
        assert_eq!(agent(ANDROID_TABLET), (Device::Tablet, Os::Android));
        // iPadOS 13+ Safari says Macintosh: nothing tells it from a Mac, so a desktop.
        assert_eq!(agent(IPADOS), (Device::Desktop, Os::Macos));
    }

    #[test]
    fn desktops() {
        assert_eq!(agent(WIN_CHROME), (Device::Desktop, Os::Windows));
        assert_eq!(agent(WIN_FIREFOX), (Device::Desktop, Os::Windows));
        assert_eq!(agent(MAC_CHROME), (Device::Desktop, Os::Macos));
        assert_eq!(agent(LINUX_FIREFOX), (Device::Desktop, Os::Linux));
    }

    #[test]
    fn programs_get_text() {
        for ua in [
            "curl/8.5.0",
            "Wget/1.21.4",
            "python-requests/2.31",
            "Go-http-client/1.1",
            "TP-LINK HTTP Client",
            "-",
            "",
            "Googlebot/2.1 (+http://www.google.com/bot.html)",
        ] {
            assert_eq!(agent(ua).0, Device::Text, "{ua}");
        }
        assert_eq!(Agent::from_user_agent(None).device, Device::Text);
    }
}
