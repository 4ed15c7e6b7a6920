//! What the portal says, in each language it speaks: built-in texts for every built-in
//! cause, the page chrome, and the OS-specific help, merged at start-up with the
//! operator's replacements from `[portal.cause.*]` and `[portal.help.*]`, field by
//! field. Merging once keeps the per-request path to a map lookup.

use std::collections::HashMap;

use crate::config::{OsTextConfig, PortalConfig};
use crate::policy::BUILTIN_CAUSES;

/// A language the portal speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    ZhCn,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::ZhCn];

    /// The BCP 47 tag, as in `config::PORTAL_LANGUAGES` and `<html lang>`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhCn => "zh-CN",
        }
    }

    /// The language's own name, for the language switch.
    pub fn own_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::ZhCn => "中文",
        }
    }

    /// Matches a language tag or range: `en`, `en-GB`, `zh`, `zh-CN`, `zh-Hans-CN`...
    /// Any Chinese variant gets the Simplified Chinese page: closer than English for a
    /// reader of Traditional Chinese.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or("");
        if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else if primary.eq_ignore_ascii_case("zh") {
            Some(Lang::ZhCn)
        } else {
            None
        }
    }

    fn index(self) -> usize {
        match self {
            Lang::En => 0,
            Lang::ZhCn => 1,
        }
    }
}

/// The fixed words of the pages in one language.
#[derive(Debug)]
pub struct Ui {
    pub what_happened: &'static str,
    pub how_to_fix: &'static str,
    pub where_to_type: &'static str,
    pub if_router: &'static str,
    pub if_this_computer: &'static str,
    pub on_this_device: &'static str,
    pub reconnect_button: &'static str,
    pub reconnect_note: &'static str,
    pub for_support: &'static str,
    pub for_support_note: &'static str,
    pub account: &'static str,
    pub reason: &'static str,
    pub no_reason: &'static str,
    pub cause_code: &'static str,
    pub reference: &'static str,
    pub need_help: &'static str,
    pub call_support: &'static str,
    pub phone: &'static str,
    pub email: &'static str,
    pub website: &'static str,
    pub no_support_contact: &'static str,
    pub links: &'static str,
    pub generic_title: &'static str,
    pub generic_intro: &'static str,
    pub your_address: &'static str,
    pub common_causes: &'static str,
    pub dialup_errors: &'static str,
    pub dialup_errors_intro: &'static str,
    pub result_done_title: &'static str,
    pub result_done_body: &'static str,
    pub result_nak_title: &'static str,
    pub result_nak_body: &'static str,
    pub result_no_answer_title: &'static str,
    pub result_no_answer_body: &'static str,
    pub result_unavailable_title: &'static str,
    pub result_unavailable_body: &'static str,
    pub result_wait_title: &'static str,
    /// `{secs}` is replaced by the number of seconds.
    pub result_wait_body: &'static str,
    pub result_not_found_title: &'static str,
    pub result_not_found_body: &'static str,
    pub result_stale_title: &'static str,
    pub result_stale_body: &'static str,
    pub if_not_online: &'static str,
    pub detail: &'static str,
    pub back: &'static str,
    pub not_found_title: &'static str,
    pub not_found_body: &'static str,
    pub language: &'static str,
}

const UI_EN: Ui = Ui {
    what_happened: "What happened",
    how_to_fix: "How to fix it",
    where_to_type: "Where to retype the account name and password",
    if_router: "If a router dials for you (most homes)",
    if_this_computer: "If this computer dials by itself",
    on_this_device: "On this device",
    reconnect_button: "I've fixed it, reconnect me",
    reconnect_note: "This ends your current limited connection so that your router or computer \
                     dials again. The page may stop loading for a moment.",
    for_support: "For support",
    for_support_note: "If you call support, tell them what is below.",
    account: "Account",
    reason: "Reason given by the network",
    no_reason: "(none given)",
    cause_code: "Cause code",
    reference: "Reference",
    need_help: "Need help?",
    call_support: "Call support",
    phone: "Phone",
    email: "E-mail",
    website: "Website",
    no_support_contact: "Contact your broadband provider's customer service: the number is on \
                         your contract or bill.",
    links: "Useful links",
    generic_title: "Why can't I get online?",
    generic_intro: "We could not match this device to a refused broadband login, so here \
                    are the usual reasons a dial-up fails and what to do about each.",
    your_address: "Your address",
    common_causes: "Common causes",
    dialup_errors: "Error numbers shown by Windows",
    dialup_errors_intro: "A computer that dials by itself shows an error number when the \
                          login fails:",
    result_done_title: "Reconnecting",
    result_done_body: "Your limited connection has been ended. Your router or computer now \
                       dials again by itself; if you fixed the problem, you will be online \
                       in a minute.",
    result_nak_title: "The network refused the reconnect",
    result_nak_body: "The network equipment did not end your connection. Restart your router \
                      instead (switch it off for 10 seconds), or contact support with the \
                      detail below.",
    result_no_answer_title: "No answer from the network",
    result_no_answer_body: "The network equipment did not answer. Restart your router (switch \
                            it off for 10 seconds) to dial again; if that does not help, \
                            contact support.",
    result_unavailable_title: "Reconnect is not available",
    result_unavailable_body: "This connection cannot be reset from here. Restart your router \
                              (switch it off for 10 seconds) to dial again.",
    result_wait_title: "Please wait",
    result_wait_body: "A reconnect was just requested. Please wait {secs} seconds before \
                       trying again.",
    result_not_found_title: "Nothing to reconnect",
    result_not_found_body: "We can't find a limited connection for this device. If you still \
                            can't get online, restart your router.",
    result_stale_title: "This page is out of date",
    result_stale_body: "Your connection has changed since this page was opened. Open the \
                        page again.",
    if_not_online: "If you are not online in a minute",
    detail: "Detail",
    back: "Back",
    not_found_title: "Page not found",
    not_found_body: "There is nothing at this address.",
    language: "Language",
};

const UI_ZH: Ui = Ui {
    what_happened: "发生了什么",
    how_to_fix: "解决方法",
    where_to_type: "在哪里重新输入账号和密码",
    if_router: "如果由路由器拨号（大多数家庭）",
    if_this_computer: "如果由这台电脑直接拨号",
    on_this_device: "在这台设备上",
    reconnect_button: "已处理好，重新连接",
    reconnect_note: "这会断开当前受限的连接，让路由器或电脑重新拨号。页面可能会短暂打不开。",
    for_support: "提供给客服的信息",
    for_support_note: "联系客服时，请告知以下信息。",
    account: "宽带账号",
    reason: "网络返回的原因",
    no_reason: "（未提供）",
    cause_code: "原因代码",
    reference: "查询编号",
    need_help: "需要帮助？",
    call_support: "拨打客服电话",
    phone: "电话",
    email: "邮箱",
    website: "网站",
    no_support_contact: "请联系您的宽带运营商客服，电话号码印在合同或账单上。",
    links: "常用链接",
    generic_title: "为什么上不了网？",
    generic_intro: "我们没有找到这台设备被拒绝的宽带登录记录。下面是拨号失败的常见原因和对应的处理方法。",
    your_address: "您的地址",
    common_causes: "常见原因",
    dialup_errors: "Windows 拨号错误代码",
    dialup_errors_intro: "电脑直接拨号失败时会显示一个错误代码：",
    result_done_title: "正在重新连接",
    result_done_body: "受限的连接已断开，路由器或电脑会自动重新拨号。如果问题已经处理好，一分钟左右就能上网。",
    result_nak_title: "网络拒绝了重新连接",
    result_nak_body: "网络设备没有断开您的连接。请改为重启路由器（断电 10 秒），或把下方的详细信息告诉客服。",
    result_no_answer_title: "网络设备没有响应",
    result_no_answer_body: "网络设备没有回应。请重启路由器（断电 10 秒）重新拨号；如果仍然不行，请联系客服。",
    result_unavailable_title: "无法在此重新连接",
    result_unavailable_body: "这个连接无法在本页面重置。请重启路由器（断电 10 秒）重新拨号。",
    result_wait_title: "请稍候",
    result_wait_body: "刚刚已经请求过重新连接，请等待 {secs} 秒后再试。",
    result_not_found_title: "无需重新连接",
    result_not_found_body: "没有找到这台设备的受限连接。如果仍然上不了网，请重启路由器。",
    result_stale_title: "页面已过期",
    result_stale_body: "打开本页面之后，您的连接已经变化。请重新打开页面。",
    if_not_online: "如果一分钟后仍不能上网",
    detail: "详细信息",
    back: "返回",
    not_found_title: "页面不存在",
    not_found_body: "这个地址没有内容。",
    language: "语言",
};

/// Built-in texts of one cause in one language.
struct Builtin {
    title: &'static str,
    summary: &'static str,
    steps: &'static [&'static str],
}

/// Causes fixed by retyping the dial-up account name or password: their pages say
/// where that is done on the visitor's device.
const CREDENTIAL_CAUSES: &[&str] = &["wrong-password", "password-expired", "user-unknown"];

/// (cause id, English, Chinese), for every id in `BUILTIN_CAUSES`.
const BUILTIN_TEXTS: &[(&str, Builtin, Builtin)] = &[
    (
        "password-expired",
        Builtin {
            title: "Your password has expired",
            summary: "The password of your broadband account has expired, so the network \
                      refused the login. Your line and your equipment are fine.",
            steps: &[
                "Set a new password on the self-service website or app, or ask support to \
                 reset it.",
                "Enter the new password where your connection dials (see below).",
                "Press \u{201c}I've fixed it, reconnect me\u{201d}.",
            ],
        },
        Builtin {
            title: "您的宽带密码已过期",
            summary: "您的宽带账号密码已过期，所以网络拒绝了这次登录。您的线路和设备没有问题。",
            steps: &[
                "在网上营业厅或手机客户端设置新密码，或联系客服重置密码。",
                "在拨号的地方填入新密码（见下方说明）。",
                "点击\u{201c}已处理好，重新连接\u{201d}。",
            ],
        },
    ),
    (
        "arrears",
        Builtin {
            title: "Your account is out of credit",
            summary: "Your broadband account has an unpaid balance, so the service is paused. \
                      Nothing is wrong with your line or your equipment.",
            steps: &[
                "Pay the bill or top up: online, in the app, or at a service point.",
                "Wait until the payment shows on your account (usually a few minutes).",
                "Press \u{201c}I've fixed it, reconnect me\u{201d}.",
            ],
        },
        Builtin {
            title: "您的宽带账户已欠费",
            summary: "您的宽带账户余额不足或有未缴费用，服务已暂停。您的线路和设备没有问题。",
            steps: &[
                "通过网上营业厅、手机客户端或营业厅缴费充值。",
                "等待缴费到账（通常需要几分钟）。",
                "点击\u{201c}已处理好，重新连接\u{201d}。",
            ],
        },
    ),
    (
        "account-expired",
        Builtin {
            title: "Your subscription has ended",
            summary: "The service period of your broadband account is over, so the network \
                      refused the login.",
            steps: &[
                "Renew or change your plan: online, in the app, or at a service point.",
                "Wait until the renewal shows on your account.",
                "Press \u{201c}I've fixed it, reconnect me\u{201d}.",
            ],
        },
        Builtin {
            title: "您的宽带套餐已到期",
            summary: "您的宽带账号服务期已经结束，所以网络拒绝了这次登录。",
            steps: &[
                "通过网上营业厅、手机客户端或营业厅续费或更换套餐。",
                "等待续费生效。",
                "点击\u{201c}已处理好，重新连接\u{201d}。",
            ],
        },
    ),
    (
        "account-disabled",
        Builtin {
            title: "Your account is suspended",
            summary: "Your broadband account has been suspended: for example after a long \
                      unpaid period, at your own request, or for security reasons.",
            steps: &[
                "Call support to learn why and to have it re-activated. Have your ID and \
                 account name ready.",
                "Once support has re-activated it, press \u{201c}I've fixed it, reconnect \
                 me\u{201d}.",
            ],
        },
        Builtin {
            title: "您的宽带账号已停用",
            summary: "您的宽带账号已被停用，例如长期欠费、您本人申请停机，或出于安全原因。",
            steps: &[
                "请联系客服了解原因并申请恢复，请准备好身份证件和宽带账号。",
                "客服确认恢复后，点击\u{201c}已处理好，重新连接\u{201d}。",
            ],
        },
    ),
    (
        "no-dialin-permission",
        Builtin {
            title: "Internet service is not active yet",
            summary: "The account exists but may not connect on this line yet, for example \
                      because a new installation has not been finished.",
            steps: &[
                "Call support and give them your account name and the address of this line.",
                "When they confirm the service is active, press \u{201c}I've fixed it, \
                 reconnect me\u{201d}.",
            ],
        },
        Builtin {
            title: "此账号尚未开通上网服务",
            summary: "账号已经存在，但还不能在这条线路上拨号上网，例如新装宽带尚未完成开通。",
            steps: &[
                "请联系客服，告知宽带账号和装机地址。",
                "客服确认开通后，点击\u{201c}已处理好，重新连接\u{201d}。",
            ],
        },
    ),
    (
        "time-restricted",
        Builtin {
            title: "Your plan doesn't allow access now",
            summary: "Your plan allows going online only at certain hours, and now is \
                      outside them.",
            steps: &[
                "Try again during your plan's hours.",
                "To go online at any time, change your plan online or with support.",
            ],
        },
        Builtin {
            title: "当前时段不能上网",
            summary: "您的套餐只允许在规定的时段上网，现在不在允许的时段内。",
            steps: &[
                "请在套餐允许的时段内再试。",
                "如需随时上网，可在网上营业厅或联系客服更换套餐。",
            ],
        },
    ),
    (
        "session-limit",
        Builtin {
            title: "Your account is already online elsewhere",
            summary: "Your account allows only a limited number of connections at once, and \
                      they are in use: often a second router, an old modem, or a computer \
                      that still dials with the same account.",
            steps: &[
                "Switch off or disconnect the other device that dials with this account (a \
                 second router, an old modem, a computer's broadband connection).",
                "Wait about two minutes for the old connection to end.",
                "Press \u{201c}I've fixed it, reconnect me\u{201d}.",
            ],
        },
        Builtin {
            title: "您的账号已在其他地方在线",
            summary: "您的账号同时在线的数量有限，现在已经用满。常见原因是第二台路由器、旧光猫或电脑还在用同一个账号拨号。",
            steps: &[
                "关闭或断开其他用这个账号拨号的设备（第二台路由器、旧光猫、电脑上的宽带连接）。",
                "等待约两分钟，让旧的连接结束。",
                "点击\u{201c}已处理好，重新连接\u{201d}。",
            ],
        },
    ),
    (
        "binding-mismatch",
        Builtin {
            title: "This account is tied to another line or device",
            summary: "Your account may only be used from a registered line, port or device \
                      (MAC address), and this login came from another one: for example \
                      after the router was replaced.",
            steps: &[
                "If you replaced your router or moved the line, call support and ask them to \
                 bind the account to the new device or line.",
                "Or connect the router you used before.",
                "Then press \u{201c}I've fixed it, reconnect me\u{201d}.",
            ],
        },
        Builtin {
            title: "此账号绑定了其他线路或设备",
            summary: "您的账号只能在登记的线路、端口或设备（MAC 地址）上使用，而这次登录来自其他线路或设备，例如更换了路由器。",
            steps: &[
                "如果您更换了路由器或迁移了线路，请联系客服，申请把账号重新绑定到新设备或新线路。",
                "或者换回原来的路由器。",
                "然后点击\u{201c}已处理好，重新连接\u{201d}。",
            ],
        },
    ),
    (
        "user-unknown",
        Builtin {
            title: "The account name was not recognised",
            summary: "The network does not know the account name your equipment sent. \
                      Usually it was mistyped, or a suffix such as @isp is missing.",
            steps: &[
                "Check the account name on your contract or installation sheet, including \
                 any suffix and capital letters.",
                "Retype it where your connection dials (see below).",
                "Press \u{201c}I've fixed it, reconnect me\u{201d}.",
            ],
        },
        Builtin {
            title: "找不到这个宽带账号",
            summary: "网络找不到您的设备发送的账号名，通常是账号输错了，或者缺少类似 @isp 的后缀。",
            steps: &[
                "对照合同或装机单核对宽带账号，包括后缀和大小写。",
                "在拨号的地方重新填写账号（见下方说明）。",
                "点击\u{201c}已处理好，重新连接\u{201d}。",
            ],
        },
    ),
    (
        "wrong-password",
        Builtin {
            title: "Wrong account name or password",
            summary: "The network refused the login because the password (or the account \
                      name) did not match.",
            steps: &[
                "Find the account name and password on your contract or installation sheet.",
                "Retype both where your connection dials (see below). Check Caps Lock and the \
                 keyboard language, and add no spaces.",
                "Forgotten the password? Reset it on the self-service website or with support.",
                "Press \u{201c}I've fixed it, reconnect me\u{201d}.",
            ],
        },
        Builtin {
            title: "宽带账号或密码错误",
            summary: "网络拒绝了这次登录，因为密码（或账号）不正确。",
            steps: &[
                "在合同或装机单上找到宽带账号和密码。",
                "在拨号的地方重新输入账号和密码（见下方说明）。注意大小写锁定和输入法，不要多加空格。",
                "忘记密码？可以在网上营业厅或联系客服重置。",
                "点击\u{201c}已处理好，重新连接\u{201d}。",
            ],
        },
    ),
    (
        "unknown",
        Builtin {
            title: "Your login was refused",
            summary: "The network refused your broadband login for a reason we could not \
                      identify. Support can look it up: give them the reason shown below.",
            steps: &[
                "Note the reason shown under \u{201c}For support\u{201d}.",
                "Contact support with your account name and that reason.",
                "When they have fixed it, press \u{201c}I've fixed it, reconnect me\u{201d}.",
            ],
        },
        Builtin {
            title: "宽带登录被拒绝",
            summary: "网络拒绝了您的宽带登录，原因未能自动识别。客服可以帮您查明，请把下方显示的原因告诉客服。",
            steps: &[
                "记下\u{201c}提供给客服的信息\u{201d}中显示的原因。",
                "联系客服，提供宽带账号和这个原因。",
                "问题解决后，点击\u{201c}已处理好，重新连接\u{201d}。",
            ],
        },
    ),
];

/// Built-in help: (router, windows, macos, linux, ios, android).
struct BuiltinHelp([&'static str; 6]);

const CREDENTIALS_EN: BuiltinHelp = BuiltinHelp([
    "Open the router's settings page in a browser: the address and login are on the label \
     under the router (often 192.168.1.1 or 192.168.0.1). Go to Internet or WAN, choose \
     PPPoE, retype the account name and password, and save. The router dials again by \
     itself.",
    "Settings \u{2192} Network & internet \u{2192} Dial-up \u{2192} your broadband \
     connection \u{2192} Advanced options \u{2192} Edit: retype the user name and password, \
     save, then Connect. On Windows 7: Network and Sharing Center \u{2192} Connect to a \
     network.",
    "System Settings \u{2192} Network \u{2192} your PPPoE service: retype the account name \
     and password, then Connect.",
    "Edit the DSL/PPPoE connection in your network settings (NetworkManager: \
     nm-connection-editor), retype the user name and password, then connect it again.",
    "An iPhone or iPad does not dial by itself: it uses your router's Wi-Fi, so the password \
     is kept in the router. Open the router's settings page in Safari and follow the router \
     steps.",
    "An Android phone or tablet on Wi-Fi does not dial by itself: the password is kept in \
     the router. Open the router's settings page in the browser (or the router maker's \
     app) and follow the router steps.",
]);

const CREDENTIALS_ZH: BuiltinHelp = BuiltinHelp([
    "用浏览器打开路由器的管理页面（地址和登录密码印在路由器底部的标签上，常见为 192.168.1.1 或 192.168.0.1），进入\u{201c}上网设置\u{201d}或\u{201c}WAN\u{201d}，选择 PPPoE（宽带拨号），重新输入宽带账号和密码并保存，路由器会自动重新拨号。",
    "设置 \u{2192} 网络和 Internet \u{2192} 拨号 \u{2192} 您的宽带连接 \u{2192} 高级选项 \u{2192} 编辑：重新输入用户名和密码，保存后点击\u{201c}连接\u{201d}。Windows 7：网络和共享中心 \u{2192} 连接到网络。",
    "系统设置 \u{2192} 网络 \u{2192} 您的 PPPoE 服务：重新输入账户名称和密码，然后点击\u{201c}连接\u{201d}。",
    "在网络设置中编辑 DSL/PPPoE 连接（NetworkManager：nm-connection-editor），重新输入用户名和密码后重新连接。",
    "iPhone 或 iPad 本身不拨号，它通过路由器的 Wi-Fi 上网，密码保存在路由器里。请用 Safari 打开路由器管理页面，按路由器的步骤操作。",
    "连接 Wi-Fi 的安卓手机或平板本身不拨号，密码保存在路由器里。请用浏览器（或路由器厂家的 App）打开路由器管理页面，按路由器的步骤操作。",
]);

const REDIAL_EN: BuiltinHelp = BuiltinHelp([
    "Restart the router (switch it off for 10 seconds), or press Connect on its Internet/WAN \
     page.",
    "Settings \u{2192} Network & internet \u{2192} Dial-up \u{2192} your broadband \
     connection \u{2192} Connect.",
    "System Settings \u{2192} Network \u{2192} your PPPoE service \u{2192} Connect.",
    "Connect the DSL/PPPoE connection again (nmcli connection up <name>).",
    "Turn Wi-Fi off and on again. If that does not help, restart the router.",
    "Turn Wi-Fi off and on again. If that does not help, restart the router.",
]);

const REDIAL_ZH: BuiltinHelp = BuiltinHelp([
    "重启路由器（断电 10 秒），或在路由器的上网设置页面点击\u{201c}连接\u{201d}。",
    "设置 \u{2192} 网络和 Internet \u{2192} 拨号 \u{2192} 您的宽带连接 \u{2192} 连接。",
    "系统设置 \u{2192} 网络 \u{2192} 您的 PPPoE 服务 \u{2192} 连接。",
    "重新连接 DSL/PPPoE 连接（nmcli connection up <连接名>）。",
    "关闭 Wi-Fi 再重新打开。如果仍然不行，请重启路由器。",
    "关闭 Wi-Fi 再重新打开。如果仍然不行，请重启路由器。",
]);

/// Windows dial-up error numbers: they fail before any RADIUS exchange, so no Reject
/// ever carries them, but subscribers see them. (codes, English, Chinese).
const DIALUP_ERRORS: &[(&str, &str, &str)] = &[
    (
        "691",
        "The account name or password was refused, or the account has a problem (unpaid, \
         expired, suspended). Check both; if they are right, contact support.",
        "账号或密码被拒绝，或者账号本身有问题（欠费、到期、停用）。请核对账号和密码，确认无误仍失败请联系客服。",
    ),
    (
        "678, 815, 651",
        "No answer from the network: the modem or optical terminal is off, a cable is loose, \
         or the line is down. Check the cables and the lights, then restart the modem.",
        "网络没有响应：光猫未开机、网线松动或线路故障。请检查网线和指示灯，然后重启光猫。",
    ),
    (
        "619, 629",
        "The connection was closed during the login, often because the previous session has \
         not ended yet. Wait two minutes and dial again; if it keeps happening, restart the \
         modem and the router.",
        "登录过程中连接被断开，常见原因是上一次的连接还没有结束。请等待两分钟后重新拨号；如果反复出现，请重启光猫和路由器。",
    ),
    (
        "718",
        "The network did not finish the login in time. Dial again in a few minutes.",
        "网络未能及时完成登录，请过几分钟再拨号。",
    ),
    (
        "720",
        "The dial-up connection's settings on this computer are damaged. Delete the broadband \
         connection and create it again.",
        "电脑上的拨号连接设置已损坏。请删除宽带连接后重新创建。",
    ),
    (
        "769",
        "The network adapter is disabled or the cable is unplugged. Plug the cable in and \
         enable the Ethernet adapter.",
        "网卡被禁用或网线没有插好。请插好网线并启用以太网网卡。",
    ),
    (
        "813",
        "Another broadband connection already uses this network adapter. Disconnect it, then \
         dial again.",
        "已有另一个宽带连接在使用这块网卡。请先断开它，再重新拨号。",
    ),
];

/// The texts of one cause in one language, after merging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CauseText {
    pub id: String,
    pub title: String,
    pub summary: String,
    pub steps: Vec<String>,
    /// Whether the page says where to retype the account name and password.
    pub credentials_help: bool,
}

/// One text per place a subscriber acts on, after merging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsTexts {
    pub router: String,
    pub windows: String,
    pub macos: String,
    pub linux: String,
    pub ios: String,
    pub android: String,
}

impl OsTexts {
    fn merge(builtin: &BuiltinHelp, over: Option<&OsTextConfig>) -> OsTexts {
        let pick = |o: Option<&String>, b: &str| o.cloned().unwrap_or_else(|| b.to_string());
        let [router, windows, macos, linux, ios, android] = builtin.0;
        OsTexts {
            router: pick(over.and_then(|o| o.router.as_ref()), router),
            windows: pick(over.and_then(|o| o.windows.as_ref()), windows),
            macos: pick(over.and_then(|o| o.macos.as_ref()), macos),
            linux: pick(over.and_then(|o| o.linux.as_ref()), linux),
            ios: pick(over.and_then(|o| o.ios.as_ref()), ios),
            android: pick(over.and_then(|o| o.android.as_ref()), android),
        }
    }
}

/// A Windows dial-up error number and what to do about it.
#[derive(Debug, Clone, Copy)]
pub struct DialupError {
    pub codes: &'static str,
    pub text: &'static str,
}

/// Everything the portal says in one language.
#[derive(Debug)]
pub struct LangTexts {
    pub lang: Lang,
    pub ui: &'static Ui,
    causes: HashMap<String, CauseText>,
    /// Built-in causes in table order, for the page of unknown visitors.
    pub common: Vec<CauseText>,
    pub credentials: OsTexts,
    pub redial: OsTexts,
    pub dialup_errors: Vec<DialupError>,
}

impl LangTexts {
    /// The texts of a cause; an id without texts of its own gets `unknown`'s.
    pub fn cause(&self, id: &str) -> &CauseText {
        self.causes
            .get(id)
            .or_else(|| self.causes.get("unknown"))
            .expect("`unknown` always has texts")
    }
}

/// The portal's texts in every language.
#[derive(Debug)]
pub struct Texts {
    langs: [LangTexts; 2],
}

impl Texts {
    /// Merges the built-in texts with the operator's, for the built-in causes and every
    /// cause the config names.
    pub fn new(cfg: &PortalConfig, extra_causes: &[&str]) -> Texts {
        Texts {
            langs: Lang::ALL.map(|lang| LangTexts::new(lang, cfg, extra_causes)),
        }
    }

    pub fn get(&self, lang: Lang) -> &LangTexts {
        &self.langs[lang.index()]
    }
}

impl LangTexts {
    fn new(lang: Lang, cfg: &PortalConfig, extra_causes: &[&str]) -> LangTexts {
        let builtin_of = |id: &str| {
            let (_, en, zh) = BUILTIN_TEXTS
                .iter()
                .find(|(b, _, _)| *b == id)
                .or_else(|| BUILTIN_TEXTS.iter().find(|(b, _, _)| *b == "unknown"))
                .expect("`unknown` has built-in texts");
            match lang {
                Lang::En => en,
                Lang::ZhCn => zh,
            }
        };
        let mut ids: Vec<&str> = BUILTIN_CAUSES.to_vec();
        ids.extend(extra_causes);
        ids.extend(cfg.causes.keys().map(String::as_str));
        let mut causes = HashMap::new();
        for id in ids {
            let b = builtin_of(id);
            let over = cfg.causes.get(id).and_then(|m| m.get(lang.tag()));
            let text = CauseText {
                id: id.to_string(),
                title: over
                    .and_then(|o| o.title.clone())
                    .unwrap_or_else(|| b.title.into()),
                summary: over
                    .and_then(|o| o.summary.clone())
                    .unwrap_or_else(|| b.summary.into()),
                steps: over
                    .and_then(|o| o.steps.clone())
                    .unwrap_or_else(|| b.steps.iter().map(|s| s.to_string()).collect()),
                credentials_help: CREDENTIAL_CAUSES.contains(&id),
            };
            causes.insert(id.to_string(), text);
        }
        let common = BUILTIN_CAUSES
            .iter()
            .filter(|id| **id != "unknown")
            .map(|id| causes[*id].clone())
            .collect();
        let help = cfg.help.get(lang.tag());
        let (ui, credentials, redial) = match lang {
            Lang::En => (&UI_EN, &CREDENTIALS_EN, &REDIAL_EN),
            Lang::ZhCn => (&UI_ZH, &CREDENTIALS_ZH, &REDIAL_ZH),
        };
        LangTexts {
            lang,
            ui,
            causes,
            common,
            credentials: OsTexts::merge(credentials, help.map(|h| &h.credentials)),
            redial: OsTexts::merge(redial, help.map(|h| &h.redial)),
            dialup_errors: DIALUP_ERRORS
                .iter()
                .map(|(codes, en, zh)| DialupError {
                    codes,
                    text: if lang == Lang::En { en } else { zh },
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CauseTextConfig, Config};

    #[test]
    fn every_builtin_cause_has_texts_in_every_language() {
        for id in BUILTIN_CAUSES {
            assert!(
                BUILTIN_TEXTS.iter().any(|(b, _, _)| b == id),
                "no built-in texts for {id}"
            );
        }
        assert_eq!(BUILTIN_TEXTS.len(), BUILTIN_CAUSES.len());
        let t = Texts::new(&PortalConfig::default(), &[]);
        for lang in Lang::ALL {
            for id in BUILTIN_CAUSES {
                let c = t.get(lang).cause(id);
                assert_eq!(c.id, *id);
                assert!(!c.title.is_empty() && !c.summary.is_empty() && !c.steps.is_empty());
            }
        }
        assert!(t.get(Lang::ZhCn).cause("arrears").title.contains("欠费"));
    }

    #[test]
    fn operator_text_replaces_field_by_field() {
        let mut cfg = Config::default().portal;
        cfg.causes.entry("arrears".into()).or_default().insert(
            "en".into(),
            CauseTextConfig {
                title: Some("Top up, please".into()),
                ..Default::default()
            },
        );
        let t = Texts::new(&cfg, &["my-cause"]);
        let en = t.get(Lang::En);
        assert_eq!(en.cause("arrears").title, "Top up, please");
        assert_eq!(en.cause("arrears").summary, BUILTIN_TEXTS[1].1.summary);
        assert_eq!(
            t.get(Lang::ZhCn).cause("arrears").title,
            "您的宽带账户已欠费"
        );
        // A custom cause without texts reads like `unknown`, under its own id.
        assert_eq!(en.cause("my-cause").id, "my-cause");
        assert_eq!(en.cause("my-cause").title, en.cause("unknown").title);
        assert_eq!(en.cause("never-heard-of").id, "unknown");
    }

    #[test]
    fn language_tags() {
        assert_eq!(Lang::from_tag("zh-TW"), Some(Lang::ZhCn));
        assert_eq!(Lang::from_tag("ZH"), Some(Lang::ZhCn));
        assert_eq!(Lang::from_tag("en-GB"), Some(Lang::En));
        assert_eq!(Lang::from_tag("fr"), None);
        assert_eq!(Lang::from_tag(""), None);
    }
}
