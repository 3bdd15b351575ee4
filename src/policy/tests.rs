//! Unit tests of the policy: each zone type, list format and action, as
//! the handler would see them.

use super::*;

/// A policy from config values and list texts (`(text, allow)`), without
/// files.
fn build(zones: &[&str], data: &[&str], lists: &[(&str, bool)], action: BlockAction) -> Policy {
    let mut b = Builder::default();
    let zones: Vec<String> = zones.iter().map(|s| s.to_string()).collect();
    b.zones(&zones).unwrap();
    for d in data {
        b.add_data(zones::parse_local_data(d).unwrap());
    }
    for (i, (text, allow)) in lists.iter().enumerate() {
        let key = if *allow { "allowlist" } else { "blocklist" };
        b.list(key, &format!("list{i}.txt"), text, *allow);
    }
    b.finish(action)
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn ask(p: &Policy, qname: &str, qtype: RecordType) -> Verdict {
    p.decide(&name(qname), qtype)
}

fn answer(v: &Verdict) -> &Answer {
    match &v.action {
        Action::Answer(a) => a,
        other => panic!("expected an answer, got {other:?}"),
    }
}

fn rcode(v: &Verdict) -> ResponseCode {
    answer(v).rcode
}

fn rdata(v: &Verdict) -> Vec<String> {
    answer(v)
        .answers
        .iter()
        .map(|r| r.data.to_string())
        .collect()
}

#[test]
fn private_reverse_zones_are_answered_locally_by_default() {
    let p = Policy::builtin();
    for q in [
        "4.3.2.10.in-addr.arpa.",
        "1.1.168.192.in-addr.arpa.",
        "9.9.20.172.in-addr.arpa.",
        "1.1.254.169.in-addr.arpa.",
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.",
        "x.8.e.f.ip6.arpa.",
        "nas.home.arpa.",
        "1.70.100.in-addr.arpa.",
    ] {
        let v = ask(&p, q, RecordType::PTR);
        let a = answer(&v);
        assert_eq!(a.rcode, ResponseCode::NXDomain, "{q}");
        assert!(a.authoritative, "{q}");
        assert_eq!(a.authorities[0].record_type(), RecordType::SOA, "{q}");
        assert_eq!(v.rule.unwrap().kind, RuleKind::LocalZone(ZoneType::Static));
    }
    // Loopback's PTR is localhost, as in Unbound.
    let v = ask(&p, "1.0.0.127.in-addr.arpa.", RecordType::PTR);
    assert_eq!(rdata(&v), vec!["localhost."]);
    // The apex answers its SOA.
    let v = ask(&p, "10.IN-ADDR.ARPA.", RecordType::SOA);
    assert_eq!(rcode(&v), ResponseCode::NoError);
    assert_eq!(answer(&v).answers.len(), 1);
    // Public space and public reverse space pass.
    for q in [
        "www.example.com.",
        "1.32.172.in-addr.arpa.",
        "8.8.8.8.in-addr.arpa.",
        ".",
    ] {
        assert_eq!(ask(&p, q, RecordType::A), Verdict::PASS, "{q}");
    }
}

#[test]
fn a_default_zone_is_overridden_by_a_configured_one() {
    let p = build(
        &[
            "10.in-addr.arpa transparent",
            "168.192.in-addr.arpa. nodefault",
        ],
        &[],
        &[],
        BlockAction::default(),
    );
    assert_eq!(
        ask(&p, "4.3.2.10.in-addr.arpa.", RecordType::PTR).action,
        Action::Pass
    );
    assert_eq!(
        ask(&p, "1.1.168.192.in-addr.arpa.", RecordType::PTR),
        Verdict::PASS
    );
    // The others are still answered.
    assert_eq!(
        rcode(&ask(&p, "1.1.16.172.in-addr.arpa.", RecordType::PTR)),
        ResponseCode::NXDomain
    );
}

#[test]
fn local_data_answers_inside_a_default_zone() {
    let p = build(
        &[],
        &[
            "10.1.168.192.in-addr.arpa. PTR nas.home.arpa.",
            "nas.home.arpa. 300 IN A 192.168.1.10",
        ],
        &[],
        BlockAction::default(),
    );
    let v = ask(&p, "10.1.168.192.in-addr.arpa.", RecordType::PTR);
    assert_eq!(rdata(&v), vec!["nas.home.arpa."]);
    assert!(answer(&v).authoritative);
    assert_eq!(v.rule.unwrap().kind, RuleKind::LocalData);
    let v = ask(&p, "NAS.home.arpa.", RecordType::A);
    assert_eq!(rdata(&v), vec!["192.168.1.10"]);
    assert_eq!(answer(&v).answers[0].ttl, 300);
    // Other names in the zone: NXDOMAIN; other types: NODATA with SOA.
    assert_eq!(
        rcode(&ask(&p, "11.1.168.192.in-addr.arpa.", RecordType::PTR)),
        ResponseCode::NXDomain
    );
    let v = ask(&p, "nas.home.arpa.", RecordType::AAAA);
    assert_eq!(rcode(&v), ResponseCode::NoError);
    assert!(answer(&v).answers.is_empty());
    assert_eq!(answer(&v).authorities[0].record_type(), RecordType::SOA);
}

#[test]
fn local_data_without_a_zone_makes_a_transparent_one() {
    let p = build(
        &[],
        &["printer.lan. A 192.0.2.7"],
        &[],
        BlockAction::default(),
    );
    assert_eq!(
        rdata(&ask(&p, "printer.lan.", RecordType::A)),
        vec!["192.0.2.7"]
    );
    let v = ask(&p, "printer.lan.", RecordType::AAAA);
    assert_eq!(rcode(&v), ResponseCode::NoError);
    assert!(answer(&v).answers.is_empty());
    // Below and beside it: resolved normally.
    assert_eq!(ask(&p, "x.printer.lan.", RecordType::A), Verdict::PASS);
    assert_eq!(ask(&p, "lan.", RecordType::A), Verdict::PASS);
}

#[test]
fn static_zone_answers_data_nodata_nxdomain_and_empty_non_terminals() {
    let p = build(
        &["home.lan static"],
        &[
            "a.b.home.lan. A 192.0.2.1",
            "www.home.lan. CNAME a.b.home.lan.",
        ],
        &[],
        BlockAction::default(),
    );
    assert_eq!(
        rcode(&ask(&p, "nope.home.lan.", RecordType::A)),
        ResponseCode::NXDomain
    );
    let ent = ask(&p, "b.home.lan.", RecordType::A);
    assert_eq!(rcode(&ent), ResponseCode::NoError);
    assert!(answer(&ent).answers.is_empty());
    assert_eq!(
        rcode(&ask(&p, "home.lan.", RecordType::A)),
        ResponseCode::NoError
    );
    let cname = ask(&p, "www.home.lan.", RecordType::A);
    assert_eq!(answer(&cname).answers[0].record_type(), RecordType::CNAME);
}

#[test]
fn refuse_deny_redirect_and_always_nxdomain() {
    let p = build(
        &[
            "refused.example refuse",
            "dropped.example deny",
            "redir.example redirect",
            "gone.example always_nxdomain",
        ],
        &[
            "ok.refused.example. A 192.0.2.1",
            "redir.example. A 192.0.2.2",
            "gone.example. A 192.0.2.3",
        ],
        &[],
        BlockAction::default(),
    );
    assert_eq!(
        ask(&p, "x.refused.example.", RecordType::A).action,
        Action::Refuse
    );
    assert_eq!(
        rdata(&ask(&p, "ok.refused.example.", RecordType::A)),
        vec!["192.0.2.1"]
    );
    assert_eq!(
        ask(&p, "x.dropped.example.", RecordType::A).action,
        Action::Drop
    );
    let v = ask(&p, "deep.down.Redir.example.", RecordType::A);
    assert_eq!(rdata(&v), vec!["192.0.2.2"]);
    assert_eq!(answer(&v).answers[0].name, name("deep.down.Redir.example."));
    assert_eq!(
        rcode(&ask(&p, "gone.example.", RecordType::A)),
        ResponseCode::NXDomain
    );
    assert_eq!(
        rcode(&ask(&p, "a.gone.example.", RecordType::A)),
        ResponseCode::NXDomain
    );
}

#[test]
fn hosts_lines_give_addresses_and_ptr() {
    let records = zones::hosts_line("192.168.1.20  nas.home.arpa nas   # the NAS")
        .unwrap()
        .unwrap();
    let text: Vec<String> = records
        .iter()
        .map(|r| format!("{} {} {}", r.name, r.record_type(), r.data))
        .collect();
    assert_eq!(
        text,
        vec![
            "nas.home.arpa. A 192.168.1.20",
            "nas. A 192.168.1.20",
            "20.1.168.192.in-addr.arpa. PTR nas.home.arpa.",
        ]
    );
    assert!(zones::hosts_line("  # comment").unwrap().is_none());
    assert!(zones::hosts_line("not-an-address name").is_err());
    assert!(zones::hosts_line("192.0.2.1").is_err());
    let v6 = zones::hosts_line("fd00::1 router.lan").unwrap().unwrap();
    assert_eq!(v6[0].record_type(), RecordType::AAAA);
    assert!(v6[1].name.to_string().ends_with("d.f.ip6.arpa."));
}

#[test]
fn bad_config_values_are_refused_with_a_reason() {
    assert!(zones::parse_local_zone("example.com").is_err());
    assert!(
        zones::parse_local_zone("example.com sideways")
            .unwrap_err()
            .contains("static")
    );
    assert!(zones::parse_local_data("nas.home.arpa. A not-an-address").is_err());
    assert!(zones::parse_local_data("").is_err());
    assert!("0.0.0.0,::".parse::<BlockAction>().is_ok());
    assert!("1.2.3.4,5.6.7.8".parse::<BlockAction>().is_err());
    assert!("sometimes".parse::<BlockAction>().is_err());
}

const MIXED_LIST: &str = "\
# a hosts file, a domain list and AdBlock lines together
127.0.0.1 localhost
0.0.0.0 0.0.0.0
0.0.0.0 ads.example tracker.example # two names
doubleclick.example
||adblock.example^
||important.example^$important
@@||fine.adblock.example^
! an AdBlock comment
[Adblock Plus 2.0]
example.org##.banner
||third.example^$third-party
/banner[0-9]+/
this is not a rule
bad..name
192.0.2.1
";

#[test]
fn every_list_format_is_read_and_bad_lines_are_counted() {
    let mut names: Vec<(String, bool)> = Vec::new();
    let mut bad = Vec::new();
    let stats = lists::read_list(
        MIXED_LIST,
        false,
        &mut |e| match e {
            Entry::Name { key, allow } => names.push((key_text(key.bytes()), allow)),
            other => panic!("{other:?}"),
        },
        &mut |line, reason| bad.push((line, reason)),
    );
    let want = [
        ("ads.example.", false),
        ("tracker.example.", false),
        ("doubleclick.example.", false),
        ("adblock.example.", false),
        ("important.example.", false),
        ("fine.adblock.example.", true),
    ];
    assert_eq!(
        names,
        want.iter()
            .map(|(n, a)| (n.to_string(), *a))
            .collect::<Vec<_>>()
    );
    assert_eq!(stats.ignored, 3, "cosmetic, option and regex rules");
    assert_eq!(
        bad.iter().map(|b| b.0).collect::<Vec<_>>(),
        vec![14, 15, 16]
    );
    assert_eq!(stats.bad, 3);
}

#[test]
fn blocked_names_and_their_subdomains_get_nxdomain_with_ede_15() {
    let p = build(&[], &[], &[(MIXED_LIST, false)], BlockAction::default());
    for q in ["ads.example.", "x.y.ADS.example.", "adblock.example."] {
        let v = ask(&p, q, RecordType::A);
        let a = answer(&v);
        assert_eq!(a.rcode, ResponseCode::NXDomain, "{q}");
        assert_eq!(a.ede, Some(ExtendedError::BLOCKED));
        assert_eq!(a.authorities[0].record_type(), RecordType::SOA);
        assert_eq!(v.rule.unwrap().kind, RuleKind::Blocklist);
    }
    // The @@ exception below a blocked name wins (most specific).
    let v = ask(&p, "fine.adblock.example.", RecordType::A);
    assert_eq!(v.action, Action::Pass);
    assert_eq!(v.rule.unwrap().kind, RuleKind::Allowlist);
    assert_eq!(ask(&p, "localhost.", RecordType::A), Verdict::PASS);
    assert_eq!(ask(&p, "example.", RecordType::A), Verdict::PASS);
    let blocked = ask(&p, "x.ads.example.", RecordType::A);
    let text = p.describe(&name("x.ads.example."), &blocked.rule.unwrap());
    assert_eq!(text, "blocklist list0.txt: ads.example.");
}

#[test]
fn allowlist_wins_at_the_same_name_and_the_most_specific_rule_decides() {
    let p = build(
        &[],
        &[],
        &[
            ("example.com\ndeep.ok.example.net\n", false),
            ("example.com\nok.example.net\n", true),
            ("example.net\n", false),
        ],
        BlockAction::default(),
    );
    assert_eq!(
        ask(&p, "www.example.com.", RecordType::A).action,
        Action::Pass
    );
    assert_eq!(
        rcode(&ask(&p, "www.example.net.", RecordType::A)),
        ResponseCode::NXDomain
    );
    assert_eq!(
        ask(&p, "a.ok.example.net.", RecordType::A).action,
        Action::Pass
    );
    assert_eq!(
        rcode(&ask(&p, "x.deep.ok.example.net.", RecordType::A)),
        ResponseCode::NXDomain
    );
}

#[test]
fn block_actions_address_nodata_refuse_and_drop() {
    let list = [("ads.example\n", false)];
    let p = build(&[], &[], &list, "0.0.0.0,::".parse().unwrap());
    let v = ask(&p, "x.ads.example.", RecordType::A);
    assert_eq!(rdata(&v), vec!["0.0.0.0"]);
    assert_eq!(answer(&v).answers[0].name, name("x.ads.example."));
    assert_eq!(answer(&v).ede, Some(ExtendedError::BLOCKED));
    assert_eq!(
        rdata(&ask(&p, "ads.example.", RecordType::AAAA)),
        vec!["::"]
    );
    let mx = ask(&p, "ads.example.", RecordType::MX);
    assert_eq!(rcode(&mx), ResponseCode::NoError);
    assert!(answer(&mx).answers.is_empty());
    let p = build(&[], &[], &list, BlockAction::Nodata);
    assert_eq!(
        rcode(&ask(&p, "ads.example.", RecordType::A)),
        ResponseCode::NoError
    );
    let p = build(&[], &[], &list, BlockAction::Refuse);
    assert_eq!(
        ask(&p, "ads.example.", RecordType::A).action,
        Action::Refuse
    );
    let p = build(&[], &[], &list, BlockAction::Drop);
    assert_eq!(ask(&p, "ads.example.", RecordType::A).action, Action::Drop);
}

const RPZ: &str = "\
$TTL 300
$ORIGIN rpz.local.
@ SOA localhost. admin.localhost. (
        1 ; serial
        3600 900 604800 60 )
  NS localhost.
nx.example        CNAME .
*.nx.example      CNAME .
nodata.example    CNAME *.
*.wild.example    CNAME .
ok.nx.example     CNAME rpz-passthru.
drop.example      CNAME rpz-drop.
walled.example    A 192.0.2.66
walled.example    AAAA 2001:db8::66
alias.example     CNAME garden.example.net.
32.1.2.0.192.rpz-ip CNAME .
broken.example    A not-an-address
outside.example.  CNAME .
";

#[test]
fn rpz_triggers_and_actions() {
    let mut bad = Vec::new();
    let stats = lists::read_list(RPZ, false, &mut |_| {}, &mut |l, r| bad.push((l, r)));
    assert_eq!(stats.format, "rpz");
    assert_eq!(stats.unsupported, 1);
    assert_eq!(
        bad.iter().map(|b| b.0).collect::<Vec<_>>(),
        vec![17, 18],
        "{bad:?}"
    );
    let p = build(&[], &[], &[(RPZ, false)], BlockAction::default());
    let v = ask(&p, "nx.example.", RecordType::A);
    assert_eq!(rcode(&v), ResponseCode::NXDomain);
    assert_eq!(answer(&v).ede, Some(ExtendedError::FILTERED));
    assert_eq!(
        rcode(&ask(&p, "a.nx.example.", RecordType::A)),
        ResponseCode::NXDomain
    );
    assert_eq!(
        ask(&p, "ok.nx.example.", RecordType::A).action,
        Action::Pass
    );
    let nodata = ask(&p, "nodata.example.", RecordType::A);
    assert_eq!(rcode(&nodata), ResponseCode::NoError);
    assert!(answer(&nodata).answers.is_empty());
    // A plain trigger covers the name only; `*.` covers subdomains only.
    assert_eq!(ask(&p, "sub.nodata.example.", RecordType::A), Verdict::PASS);
    assert_eq!(ask(&p, "wild.example.", RecordType::A), Verdict::PASS);
    let wild = ask(&p, "a.b.wild.example.", RecordType::A);
    assert_eq!(rcode(&wild), ResponseCode::NXDomain);
    assert_eq!(
        p.describe(&name("a.b.wild.example."), &wild.rule.unwrap()),
        "blocklist list0.txt: rpz *.wild.example. NXDOMAIN"
    );
    assert_eq!(ask(&p, "drop.example.", RecordType::A).action, Action::Drop);
    assert_eq!(
        rdata(&ask(&p, "walled.example.", RecordType::A)),
        vec!["192.0.2.66"]
    );
    assert_eq!(
        rdata(&ask(&p, "walled.example.", RecordType::AAAA)),
        vec!["2001:db8::66"]
    );
    let alias = ask(&p, "alias.example.", RecordType::A);
    assert_eq!(rdata(&alias), vec!["garden.example.net."]);
    assert_eq!(answer(&alias).ede, Some(ExtendedError::FILTERED));
}

#[test]
fn local_data_beats_a_blocklist_and_a_root_rule_is_honoured() {
    let p = build(
        &[],
        &["nas.ads.example. A 192.0.2.5"],
        &[("ads.example\n", false)],
        BlockAction::default(),
    );
    assert_eq!(
        rdata(&ask(&p, "nas.ads.example.", RecordType::A)),
        vec!["192.0.2.5"]
    );
    // The blocklist still covers the rest of ads.example (local data made
    // a transparent zone at nas.ads.example only).
    assert_eq!(
        rcode(&ask(&p, "x.ads.example.", RecordType::A)),
        ResponseCode::NXDomain
    );
    // A zone at the root holds every name.
    let p = build(&[". refuse"], &[], &[], BlockAction::default());
    assert_eq!(
        ask(&p, "www.example.com.", RecordType::A).action,
        Action::Refuse
    );
    assert_eq!(
        rcode(&ask(&p, "1.10.in-addr.arpa.", RecordType::PTR)),
        ResponseCode::NXDomain
    );
}

#[test]
fn missing_files_are_errors_naming_the_key_and_path() {
    let config = PolicyConfig {
        blocklist: vec![PathBuf::from("/nonexistent/rootward-list.txt")],
        ..PolicyConfig::default()
    };
    let err = Policy::load(&config).unwrap_err().to_string();
    assert!(
        err.starts_with("invalid value for blocklist: '/nonexistent/rootward-list.txt'"),
        "{err}"
    );
    assert!(!err.contains('\n'));
}
