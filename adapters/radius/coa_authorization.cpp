#include "adapters/radius/coa_authorization.hpp"

#include "common/effect_gate.hpp"
#include "events/errc.hpp"

#include <atomic>
#include <mutex>
#include <utility>

namespace ispflow::adapters::radius {

namespace {

da_outcome to_da(const coa_outcome& x) {
  da_outcome res;
  switch (x.status) {
    case coa_status::ack:
      res.result = da_result::ack;
      break;
    case coa_status::nak:
      res.result = da_result::nak;
      break;
    case coa_status::timeout:
      res.result = da_result::timeout;
      break;
    case coa_status::error:
      res.result = da_result::error;
      break;
  }
  res.error_cause = x.error_cause.value_or(0);
  res.detail = std::string{to_string(x.status)};
  if (x.error_cause)
    res.detail += " (Error-Cause " + std::to_string(*x.error_cause) + ")";
  if (!x.detail.empty())
    res.detail += ": " + x.detail;
  return res;
}

// Collects one outcome per session and calls `done` once, after the last.
struct fan_in {
  std::mutex mtx;
  std::vector<da_outcome> outcomes;
  size_t left = 0;
  dynamic_authorization::callback done;

  void set(size_t i, da_outcome x) {
    dynamic_authorization::callback fire;
    std::vector<da_outcome> all;
    {
      std::lock_guard<std::mutex> guard{mtx};
      outcomes[i] = std::move(x);
      if (--left > 0)
        return;
      fire = std::move(done);
      all = std::move(outcomes);
    }
    fire(std::move(all));
  }
};

} // namespace

coa_authorization::coa_authorization(dictionary dict,
                                     std::unique_ptr<coa_client> client)
  : dict_(std::move(dict)), client_(std::move(client)) {
  // nop
}

coa_authorization::~coa_authorization() {
  if (client_)
    client_->stop();
}

caf::expected<std::shared_ptr<coa_authorization>>
coa_authorization::make(coa_settings settings) {
  auto dict = dictionary::load(settings.dictionary);
  if (!dict)
    return std::move(dict.error());
  std::shared_ptr<coa_authorization> self{
    new coa_authorization(std::move(*dict), nullptr)};
  // formats() refers to the dictionary object it is called on: take it from
  // the one `self` keeps, not from the local moved away above.
  settings.client.formats = self->dict_.formats();
  for (const auto& n : settings.nas) {
    auto address = canonical_nas_address(n.address);
    if (address.empty())
      return caf::make_error(errc::invalid_config, "NAS " + n.name
                                                     + ": invalid address "
                                                     + n.address);
    if (n.max_in_flight > 0 || n.max_rate > 0)
      self->limits_[address] = {n.max_in_flight, n.max_rate};
    if (!n.require_message_authenticator)
      self->unsigned_ok_.insert(std::move(address));
  }
  auto client = coa_client::start(std::move(settings.client));
  if (!client)
    return std::move(client.error());
  self->client_ = std::move(*client);
  return self;
}

bool coa_authorization::requires_message_authenticator(
  const std::string& address) const {
  auto canonical = canonical_nas_address(address);
  return unsigned_ok_.count(canonical.empty() ? address : canonical) == 0;
}

caf::error coa_authorization::check_attribute(const std::string& name,
                                              const std::string& value) const {
  if (auto made = dict_.make(name, value); !made)
    return caf::make_error(errc::invalid_config,
                           "attribute " + name + " = " + value
                             + " cannot be encoded: "
                             + render_error(made.error()));
  return {};
}

coa_client_stats coa_authorization::stats() const {
  return client_->stats();
}

void coa_authorization::disconnect(std::vector<session> sessions,
                                   callback done) {
  send_all(code::disconnect_request, std::move(sessions), {}, std::move(done));
}

void coa_authorization::change(std::vector<session> sessions,
                               std::vector<sql_attribute> attributes,
                               callback done) {
  std::vector<attribute> extra;
  for (auto& a : attributes) {
    auto made = dict_.make(a.name, a.value);
    if (!made) {
      // A plan row no dictionary knows cannot go to any NAS.
      std::vector<da_outcome> all(sessions.size());
      for (auto& x : all)
        x.detail = "attribute " + a.name + " unknown to the dictionary";
      done(std::move(all));
      return;
    }
    extra.push_back(std::move(*made));
  }
  send_all(code::coa_request, std::move(sessions), std::move(extra),
           std::move(done));
}

void coa_authorization::send_all(code kind, std::vector<session> sessions,
                                 std::vector<attribute> extra, callback done) {
  if (sessions.empty()) {
    done({});
    return;
  }
  if (!common::effect_gate::open()) {
    // This instance's leases are unconfirmed: nothing goes to any NAS.
    std::vector<da_outcome> all(sessions.size());
    for (auto& x : all)
      x.detail = common::effect_gate::closed_text;
    done(std::move(all));
    return;
  }
  auto state = std::make_shared<fan_in>();
  state->outcomes.resize(sessions.size());
  state->left = sessions.size();
  state->done = std::move(done);
  for (size_t i = 0; i < sessions.size(); ++i) {
    auto& s = sessions[i];
    std::vector<attribute> attrs;
    attrs.push_back(attribute::text(attr::user_name, s.username));
    attrs.push_back(attribute::text(attr::acct_session_id, s.acct_session_id));
    if (auto ip = attribute::ipv4(attr::nas_ip_address, s.nas_address))
      attrs.push_back(std::move(*ip));
    if (!s.framed_ip.empty())
      if (auto ip = attribute::ipv4(attr::framed_ip_address, s.framed_ip))
        attrs.push_back(std::move(*ip));
    attrs.insert(attrs.end(), extra.begin(), extra.end());
    nas_endpoint nas;
    nas.host = s.nas_address;
    nas.port = s.coa_port;
    nas.secret = s.nas_secret;
    nas.require_message_authenticator
      = requires_message_authenticator(s.nas_address);
    auto canonical = canonical_nas_address(s.nas_address);
    if (auto l = limits_.find(canonical.empty() ? s.nas_address : canonical);
        l != limits_.end()) {
      nas.max_in_flight = l->second.first;
      nas.max_rate = l->second.second;
    }
    client_->submit(nas, kind, std::move(attrs),
                    [state, i](coa_outcome out) { state->set(i, to_da(out)); });
  }
}

} // namespace ispflow::adapters::radius
