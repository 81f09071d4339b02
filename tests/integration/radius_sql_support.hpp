#pragma once

#include <map>
#include <string>
#include <vector>

// Test support for the RADIUS SQL tests: a FreeRADIUS started through
// deploy/local/freeradius.sh against a scratch database, and radclient
// requests against it.

namespace ispflow::testing {

/// A FreeRADIUS process for one test suite; stopped by the destructor.
class freeradius_server {
public:
  /// Starts FreeRADIUS on 127.0.0.1 with SQL against `dsn` (which must hold
  /// FreeRADIUS's tables) on `auth_port`, `auth_port + 1` (accounting) and
  /// `auth_port + 2` (coa-peer). `ok()` tells whether it came up.
  freeradius_server(const std::string& dsn, int auth_port);
  ~freeradius_server();
  freeradius_server(const freeradius_server&) = delete;
  freeradius_server& operator=(const freeradius_server&) = delete;

  /// Whether the server answered after start.
  bool ok() const {
    return ok_;
  }

  int auth_port() const {
    return auth_port_;
  }

  int acct_port() const {
    return auth_port_ + 1;
  }

  /// The tail of the server's log, for failure messages.
  std::string log_tail() const;

  /// The localhost client's secret.
  static constexpr const char* secret = "testing123";

private:
  std::string dir_;
  int auth_port_;
  bool ok_ = false;
};

/// What radclient received.
struct radius_answer {
  /// "Access-Accept", "Access-Reject", "Accounting-Response", ... or ""
  /// when nothing came back.
  std::string code;
  /// Reply attributes by name, values without quotes, in order.
  std::map<std::string, std::vector<std::string>> attributes;

  /// The first value of `name`, or "".
  std::string first(const std::string& name) const;
};

/// Sends one packet of `type` ("auth", "acct") with `pairs` (lines of
/// `Name = value`) to 127.0.0.1:`port` and parses the answer.
radius_answer radclient(int port, const std::string& type,
                        const std::vector<std::string>& pairs,
                        const std::string& secret = freeradius_server::secret);

/// A PAP Access-Request (or CHAP with `chap`).
radius_answer access_request(int port, const std::string& user,
                             const std::string& password, bool chap = false);

} // namespace ispflow::testing
