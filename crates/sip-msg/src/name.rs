//! Header names: canonical spellings, compact forms (RFC 3261 §7.3.3) and
//! case-insensitive recognition.

macro_rules! header_names {
    ($( $variant:ident => $canon:literal $(, $compact:literal)? ; )*) => {
        /// A SIP header name. Well-known names are variants; anything else is
        /// [`HeaderName::Other`] and keeps its spelling in the message.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum HeaderName {
            $(
                #[doc = concat!("`", $canon, "`")]
                $variant,
            )*
            /// A header this crate has no variant for; its name is kept verbatim.
            Other,
        }

        impl HeaderName {
            /// The canonical spelling, used when printing. `None` for [`HeaderName::Other`].
            pub fn canonical(self) -> Option<&'static str> {
                match self {
                    $( HeaderName::$variant => Some($canon), )*
                    HeaderName::Other => None,
                }
            }

            /// Recognise a header name, long or compact form, ignoring case.
            pub fn recognise(name: &str) -> HeaderName {
                let b = name.as_bytes();
                if b.len() == 1 {
                    return match b[0].to_ascii_lowercase() {
                        $( $( c if c == $compact => HeaderName::$variant, )? )*
                        _ => HeaderName::Other,
                    };
                }
                $(
                    if b.len() == $canon.len() && name.eq_ignore_ascii_case($canon) {
                        return HeaderName::$variant;
                    }
                )*
                HeaderName::Other
            }
        }
    };
}

header_names! {
    Via => "Via", b'v';
    From => "From", b'f';
    To => "To", b't';
    CallId => "Call-ID", b'i';
    CSeq => "CSeq";
    Contact => "Contact", b'm';
    MaxForwards => "Max-Forwards";
    ContentLength => "Content-Length", b'l';
    ContentType => "Content-Type", b'c';
    Route => "Route";
    RecordRoute => "Record-Route";
    Expires => "Expires";
    MinExpires => "Min-Expires";
    WwwAuthenticate => "WWW-Authenticate";
    ProxyAuthenticate => "Proxy-Authenticate";
    Authorization => "Authorization";
    ProxyAuthorization => "Proxy-Authorization";
    Supported => "Supported", b'k';
    Require => "Require";
    ProxyRequire => "Proxy-Require";
    Unsupported => "Unsupported";
    Allow => "Allow";
    Accept => "Accept";
    AcceptEncoding => "Accept-Encoding";
    AcceptLanguage => "Accept-Language";
    ContentEncoding => "Content-Encoding", b'e';
    ContentDisposition => "Content-Disposition";
    SessionExpires => "Session-Expires", b'x';
    MinSe => "Min-SE";
    RSeq => "RSeq";
    RAck => "RAck";
    ReferTo => "Refer-To", b'r';
    ReferredBy => "Referred-By", b'b';
    Replaces => "Replaces";
    PAssertedIdentity => "P-Asserted-Identity";
    PPreferredIdentity => "P-Preferred-Identity";
    Reason => "Reason";
    RetryAfter => "Retry-After";
    UserAgent => "User-Agent";
    Server => "Server";
    Subject => "Subject", b's';
    Event => "Event", b'o';
    AllowEvents => "Allow-Events", b'u';
    SubscriptionState => "Subscription-State";
    Warning => "Warning";
    Timestamp => "Timestamp";
    Date => "Date";
    Path => "Path";
    Privacy => "Privacy";
}

impl HeaderName {
    /// Does this header carry a comma-separated list of values (RFC 3261 §7.3.1)?
    pub fn is_list(self) -> bool {
        matches!(
            self,
            HeaderName::Via
                | HeaderName::Contact
                | HeaderName::Route
                | HeaderName::RecordRoute
                | HeaderName::Supported
                | HeaderName::Require
                | HeaderName::ProxyRequire
                | HeaderName::Unsupported
                | HeaderName::Allow
                | HeaderName::Accept
                | HeaderName::AcceptEncoding
                | HeaderName::AcceptLanguage
                | HeaderName::ContentEncoding
                | HeaderName::PAssertedIdentity
                | HeaderName::PPreferredIdentity
                | HeaderName::Reason
                | HeaderName::AllowEvents
                | HeaderName::Warning
                | HeaderName::Path
                | HeaderName::Privacy
        )
    }
}

#[cfg(test)]
mod tests {
    use super::HeaderName;

    #[test]
    fn compact_and_case() {
        assert_eq!(HeaderName::recognise("i"), HeaderName::CallId);
        assert_eq!(HeaderName::recognise("I"), HeaderName::CallId);
        assert_eq!(HeaderName::recognise("call-id"), HeaderName::CallId);
        assert_eq!(HeaderName::recognise("CSEQ"), HeaderName::CSeq);
        assert_eq!(HeaderName::recognise("m"), HeaderName::Contact);
        assert_eq!(HeaderName::recognise("l"), HeaderName::ContentLength);
        assert_eq!(HeaderName::recognise("x-custom"), HeaderName::Other);
        assert_eq!(HeaderName::recognise("q"), HeaderName::Other);
        assert_eq!(HeaderName::Via.canonical(), Some("Via"));
        assert!(HeaderName::Via.is_list());
        assert!(!HeaderName::CallId.is_list());
    }
}
