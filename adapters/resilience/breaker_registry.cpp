#include "adapters/resilience/breaker_registry.hpp"

#include "events/errc.hpp"

namespace ispflow::adapters::resilience {

struct breaker_registry::listeners {
  std::mutex mtx;
  std::vector<keyed_transition_listener> list;

  void notify(const breaker_key& key, const breaker_transition& tr) {
    std::vector<keyed_transition_listener> copy;
    {
      std::lock_guard<std::mutex> guard{mtx};
      copy = list;
    }
    for (const auto& f : copy) {
      if (!f)
        continue;
      try {
        f(key, tr);
      } catch (...) {
        // One failing listener must not hide the change from the others.
      }
    }
  }
};

std::string to_string(const breaker_key& x) {
  return x.tenant + "/" + x.adapter + "/" + x.endpoint;
}

std::ostream& operator<<(std::ostream& os, const breaker_key& x) {
  return os << to_string(x);
}

caf::error validate(const registry_config& cfg) {
  auto with_prefix = [](const std::string& where, caf::error err) {
    if (!err)
      return err;
    return caf::make_error(errc::invalid_config,
                           where + ": " + render_error(err));
  };
  if (auto err = validate(cfg.defaults))
    return with_prefix("defaults", std::move(err));
  for (const auto& [name, c] : cfg.by_adapter)
    if (auto err = validate(c))
      return with_prefix(name, std::move(err));
  for (const auto& [name, c] : cfg.by_tenant_adapter)
    if (auto err = validate(c))
      return with_prefix(name, std::move(err));
  return {};
}

breaker_registry::breaker_registry(registry_config cfg)
  : cfg_(std::move(cfg)), listeners_(std::make_shared<listeners>()) {
  // nop
}

breaker_registry::~breaker_registry() = default;

breaker_config breaker_registry::config_for(const breaker_key& key) const {
  if (auto i = cfg_.by_tenant_adapter.find(key.tenant + "/" + key.adapter);
      i != cfg_.by_tenant_adapter.end())
    return i->second;
  if (auto i = cfg_.by_adapter.find(key.adapter); i != cfg_.by_adapter.end())
    return i->second;
  return cfg_.defaults;
}

std::shared_ptr<circuit_breaker> breaker_registry::get(const breaker_key& key,
                                                       time_point now) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto i = breakers_.find(key); i != breakers_.end())
    return i->second;
  auto cb = std::make_shared<circuit_breaker>(config_for(key), now);
  // The breaker forwards to the registry's listeners, so listeners added
  // later see it too; a weak reference outlives a destroyed registry.
  std::weak_ptr<listeners> weak = listeners_;
  cb->on_transition([weak, key](const breaker_transition& tr) {
    if (auto ls = weak.lock())
      ls->notify(key, tr);
  });
  breakers_.emplace(key, cb);
  return cb;
}

std::shared_ptr<circuit_breaker>
breaker_registry::find(const breaker_key& key) const {
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto i = breakers_.find(key); i != breakers_.end())
    return i->second;
  return nullptr;
}

std::vector<std::pair<breaker_key, breaker_snapshot>>
breaker_registry::snapshots() const {
  std::vector<std::pair<breaker_key, std::shared_ptr<circuit_breaker>>> all;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    all.assign(breakers_.begin(), breakers_.end());
  }
  std::vector<std::pair<breaker_key, breaker_snapshot>> result;
  result.reserve(all.size());
  for (auto& [key, cb] : all)
    result.emplace_back(key, cb->snapshot());
  return result;
}

void breaker_registry::tick(time_point now) {
  std::vector<std::shared_ptr<circuit_breaker>> all;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& [key, cb] : breakers_)
      all.push_back(cb);
  }
  for (auto& cb : all)
    cb->tick(now);
}

void breaker_registry::on_transition(keyed_transition_listener listener) {
  std::lock_guard<std::mutex> guard{listeners_->mtx};
  listeners_->list.push_back(std::move(listener));
}

size_t breaker_registry::size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return breakers_.size();
}

} // namespace ispflow::adapters::resilience
