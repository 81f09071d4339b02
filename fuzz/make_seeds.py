#!/usr/bin/env python3
"""Writes the hand-made seeds of fuzz/corpus/<target>/seed-*.

Sources: the examples of events/schemas/*.json, the RADIUS packets of
tests/unit/radius_packet_test.cpp (RFC 2865 section 7.1, and packets
computed with Python's hashlib/hmac), and admin API requests as the README
of actors/admin documents them. Inputs the fuzzers found are merged next
to them by `fuzz/run.sh` with FUZZ_MERGE=1 (file names are SHA-1 sums).
Usage: fuzz/make_seeds.py (from the repository root or anywhere).
"""
import base64
import glob
import json
import os
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def schemas():
    out = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "events", "schemas", "*.json"))):
        name = os.path.basename(path)[:-5]
        with open(path) as f:
            out[name] = json.load(f)
    return out


def compact(v):
    return json.dumps(v, separators=(",", ":"))


def record(headers, value):
    lines = []
    for h in headers:
        lines.append(h if isinstance(h, str) else h[0] + ":" + h[1])
    return "\n".join(lines) + "\n\n" + value


def intake_seeds(all_schemas):
    n = 0
    for name, schema in all_schemas.items():
        if not name.startswith("billing.subscription."):
            continue
        for i, ex in enumerate(schema.get("examples", [])):
            n += 1
            base = [("ce_specversion", "1.0"), ("ce_id", "evt-%d" % n),
                    ("ce_source", "billing." + ex["tenant_id"]),
                    ("ce_type", name),
                    ("ce_time", "2024-05-01T12:00:00Z"),
                    ("ce_subject", ex["subscriber_id"]),
                    ("ce_tenantid", ex["tenant_id"]),
                    ("content-type", "application/json")]
            write("cloud_event_intake", "binary-%s-%d" % (name, i),
                  record(base, compact(ex)))
            structured = {"specversion": "1.0", "id": "evt-s%d" % n,
                          "source": "billing." + ex["tenant_id"],
                          "type": name, "time": "2024-05-01T14:00:00+02:00",
                          "subject": ex["subscriber_id"],
                          "tenantid": ex["tenant_id"],
                          "datacontenttype": "application/json",
                          "traceparent":
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                          "data": ex}
            write("cloud_event_intake", "structured-%s-%d" % (name, i),
                  record([("content-type",
                           "application/cloudevents+json; charset=utf-8")],
                         compact(structured)))
    ex = all_schemas["billing.subscription.suspended"]["examples"][0]
    ok = [("ce_specversion", "1.0"), ("ce_id", "evt-x"), ("ce_source", "b"),
          ("ce_type", "billing.subscription.suspended"),
          ("ce_subject", ex["subscriber_id"]),
          ("ce_tenantid", ex["tenant_id"])]
    write("cloud_event_intake", "bad-missing-id",
          record([h for h in ok if h[0] != "ce_id"], compact(ex)))
    write("cloud_event_intake", "bad-time",
          record(ok + [("ce_time", "2024-02-30T12:00:00Z")], compact(ex)))
    write("cloud_event_intake", "bad-null-header",
          record(ok + ["traceparent"], compact(ex)))
    write("cloud_event_intake", "bad-content-type",
          record(ok + [("content-type", "text/plain")], compact(ex)))
    write("cloud_event_intake", "bad-not-object", record(ok, "[1,2,3]"))
    write("cloud_event_intake", "bad-json", record(ok, '{"a":'))
    write("cloud_event_intake", "bad-nul-id",
          record([("ce_id", "e\x00")] + ok[2:], compact(ex)))
    mismatch = dict(ex, tenant_id="other")
    write("cloud_event_intake", "bad-tenant-mismatch",
          record(ok, compact(mismatch)))
    write("cloud_event_intake", "bad-unknown-type",
          record([h if h[0] != "ce_type" else ("ce_type", "billing.x")
                  for h in ok], compact(ex)))
    write("cloud_event_intake", "bad-structured-base64",
          record([("content-type", "application/cloudevents+json")],
                 compact({"specversion": "1.0", "id": "1", "source": "s",
                          "type": "billing.subscription.suspended",
                          "data_base64": "e30="})))
    # Signed events of the keyed source (cloud_event_intake.cpp replaces
    # "@k1"/"@k2" by the record's signature), and a wrong signature.
    acme = [("ce_specversion", "1.0"), ("ce_id", "evt-signed"),
            ("ce_source", "billing.acme"),
            ("ce_type", "billing.subscription.suspended"),
            ("ce_subject", ex["subscriber_id"]),
            ("ce_tenantid", ex["tenant_id"])]
    write("cloud_event_intake", "signed-binary",
          record(acme + [("ispflow-signature", "@k1")], compact(ex)))
    write("cloud_event_intake", "signed-structured",
          record([("content-type", "application/cloudevents+json"),
                  ("ispflow-signature", "@k2")],
                 compact({"specversion": "1.0", "id": "evt-signed-s",
                          "source": "billing.acme",
                          "type": "billing.subscription.suspended",
                          "subject": ex["subscriber_id"],
                          "tenantid": ex["tenant_id"],
                          "time": "2024-05-01T12:00:00Z", "data": ex})))
    write("cloud_event_intake", "bad-signature",
          record(acme + [("ispflow-signature", "v1=" + "0" * 63 + "1")],
                 compact(ex)))


def schema_seeds(all_schemas):
    for name, schema in all_schemas.items():
        for i, ex in enumerate(schema.get("examples", [])):
            write("schema_validate", "%s-%d" % (name, i), compact(ex))
    ex = all_schemas["billing.subscription.activated"]["examples"][0]
    bad = dict(ex)
    del bad["plan_id"]
    write("schema_validate", "bad-missing-plan", compact(bad))
    write("schema_validate", "bad-enum", compact(dict(ex, service_type="dsl")))
    write("schema_validate", "bad-extra", compact(dict(ex, extra=1)))
    write("schema_validate", "bad-type", compact(dict(ex, schema_version="1")))
    write("schema_validate", "bad-date",
          compact(dict(ex, effective_at="2024-13-01T00:00:00Z")))


RADIUS_HEX = {
    # RFC 2865 section 7.1: Access-Request (secret xyzzy5461), Access-Accept.
    "rfc2865-access-request":
        "010000380f403f9473978057bd83d5cb98f4227a01066e656d6f02120dbe708d93d413"
        "ce3196e43f782a0aee0406c0a8011005060000000300",
    "rfc2865-access-accept":
        "0200002686fe220e7624ba2a1005f6bf9b55e0b2060600000001"
        "0f06000000000e06c0a80103",
    # Disconnect-Request, -ACK, -NAK (secret testing123).
    "disconnect-request":
        "2807003b159f82442bdc325b733de2c502f635af5012507840226ad9b965f769ca541f"
        "549baf0107616c6963652c08736573732d3104060a000001",
    "disconnect-ack": "2907002666bebbc587a73c310071cc8a4956902f50127d5af36c22"
                      "30f63420411c6f765c1654",
    "disconnect-nak": "2a07002c0c706050e5bedab857397147eda5e329501214ad7cdde8"
                      "9a132893d3fdd7d5f222816506000001f7",
    # FreeRADIUS 3.2.1's Disconnect-ACK (zeroed-authenticator HMAC).
    "freeradius-disconnect-ack":
        "29090026a6a932b3415b6ede387f482f90a23f87501268c68d2b"
        "e841465ce1627917a7c8f700",
}


def radius_decode_seeds():
    for name, h in RADIUS_HEX.items():
        write("radius_decode", name, bytes.fromhex(h))
    # CoA-Request with one Vendor-Specific holding two Mikrotik attributes.
    vsa = bytes([26, 16, 0, 0, 0x3a, 0x8c, 8, 5]) + b"abc" + bytes([1, 5]) + b"xyz"
    wire = bytearray([43, 1, 0, 0]) + bytes(16) + vsa
    wire[3] = len(wire)
    write("radius_decode", "coa-mikrotik-vsa", bytes(wire))
    # The same layout for USR-style 2,2 (vendor 8164) and 4,0 (vendor 429).
    usr = bytes([26, 13]) + struct.pack(">I", 8164) + struct.pack(">HH", 300, 7) + b"abc"
    nolen = bytes([26, 12]) + struct.pack(">I", 429) + struct.pack(">I", 1) + b"ab"
    wire = bytearray([43, 2, 0, 0]) + bytes(16) + usr + nolen
    wire[3] = len(wire)
    write("radius_decode", "coa-usr-and-nolen-vsa", bytes(wire))


def rt(code_sel, ident, auth, secret, attrs):
    out = bytes([code_sel, ident]) + auth + bytes([len(secret)]) + secret
    for vendor_sel, type_bytes, value in attrs:
        out += bytes([vendor_sel]) + type_bytes + bytes([len(value)]) + value
    return out


def radius_roundtrip_seeds():
    auth = bytes(range(1, 17))
    # Code selector: index into `codes` of radius_roundtrip.cpp; vendor
    # selectors 132..137 pick fuzz_vendors[sel % 6] of radius_formats.hpp.
    write("radius_roundtrip", "access-request",
          rt(0, 1, auth, b"testing123",
             [(0, b"\x01", b"alice"), (0, b"\x02", b"arctangent"),
              (0, b"\x04", bytes([10, 0, 0, 1]))]))
    write("radius_roundtrip", "access-request-long-password",
          rt(0, 2, bytes(16), b"s", [(0, b"\x02", b"p" * 40)]))
    write("radius_roundtrip", "coa-request-vendors",
          rt(9, 3, auth, b"testing123",
             [(0, b"\x01", b"sub-1@acme"), (132, b"\x08", b"10M/25M"),
              (254, b"\x01\x2c", b"x"), (134, b"\x01", b"abc"),
              (135, b"\x01", b"cisco-avpair=1")]))
    # Vendor 5 has an unsupported format: encode_raw must refuse it.
    write("radius_roundtrip", "coa-request-bad-vendor-format",
          rt(9, 5, auth, b"testing123", [(136, b"\x01", b"x")]))
    write("radius_roundtrip", "disconnect-request",
          rt(6, 7, auth, b"testing123",
             [(0, b"\x01", b"alice"), (0, b"\x2c", b"sess-1"),
              (0, b"\x04", bytes([10, 0, 0, 1]))]))
    write("radius_roundtrip", "accounting-request",
          rt(3, 9, auth, b"k", [(0, b"\x28", b"\x00\x00\x00\x01"),
                                (255, b"\x00\x00\x01\x37\x01", b"ms")]))
    write("radius_roundtrip", "coa-nak-error-cause",
          rt(11, 4, auth, b"testing123", [(0, b"\x65", b"\x00\x00\x01\xf7")]))


def admin_seeds():
    cursor = base64.urlsafe_b64encode(
        b"s1|2024-05-01T12:00:00.123Z|0b7f3a52-1f6e-4f39-9d1e-7c2b7e0e5a11"
    ).rstrip(b"=").decode()
    dl_cursor = base64.urlsafe_b64encode(b"d1|1234").rstrip(b"=").decode()
    write("admin_request", "query-sagas",
          "\x00tenant=acme&subscriber=sub-1&state=running&from=2024-05-01T00%3A00%3A00Z"
          "&to=2024-06-01T00:00:00%2B02:00&limit=20&cursor=" + cursor)
    write("admin_request", "query-dead-letters",
          "\x00tenant=acme&error=schema_violation&redriven=false&limit=500&cursor="
          + dl_cursor)
    write("admin_request", "redrive-events",
          "\x01" + compact({"from": "2024-05-01T00:00:00Z",
                            "to": "2024-05-02T00:00:00Z", "tenant": "acme",
                            "types": ["billing.subscription.activated"],
                            "dry_run": True, "limit": 100}))
    write("admin_request", "redrive-dead-letter-object",
          "\x02" + compact({"payload": {"schema_version": 1,
                                        "tenant_id": "acme"}}))
    write("admin_request", "redrive-dead-letter-string",
          "\x02" + compact({"payload": "{\"schema_version\":1}"}))
    write("admin_request", "bearer", "\x03Bearer  0123456789abcdef \r")
    write("admin_request", "segment-cursor", "\x04" + cursor)
    write("admin_request", "segment-id", "\x04" + "42")
    write("admin_request", "segment-breaker", "\x04radius%2Facme")


def main():
    all_schemas = schemas()
    intake_seeds(all_schemas)
    schema_seeds(all_schemas)
    radius_decode_seeds()
    radius_roundtrip_seeds()
    admin_seeds()


if __name__ == "__main__":
    main()
