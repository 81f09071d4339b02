#include "adapters/api/adapters.hpp"

#include "common/config.hpp"

#include <utility>

namespace ispflow::adapters::api {

void adapter_set::set_tenant(const std::string& tenant_id,
                             sagas::tenant_profile profile) {
  tenants_[tenant_id] = std::move(profile);
}

void adapter_set::set_tenant(const std::string& tenant_id,
                             const common::tenant_systems& systems,
                             std::set<std::string> policies) {
  set_tenant(tenant_id,
             sagas::tenant_profile{systems_of(systems), std::move(policies)});
}

void adapter_set::set_actor(sagas::target_system system, adapter_actor handle) {
  actors_[system] = std::move(handle);
}

std::optional<sagas::tenant_profile>
adapter_set::profile(const std::string& tenant_id) const {
  if (auto i = tenants_.find(tenant_id); i != tenants_.end())
    return i->second;
  return std::nullopt;
}

bool adapter_set::has(const std::string& tenant_id,
                      sagas::target_system system) const {
  auto i = tenants_.find(tenant_id);
  return i != tenants_.end() && i->second.systems.count(system) > 0;
}

adapter_actor adapter_set::actor(sagas::target_system system) const {
  if (auto i = actors_.find(system); i != actors_.end())
    return i->second;
  return {};
}

std::set<sagas::target_system>
systems_of(const common::tenant_systems& systems) {
  using sagas::target_system;
  std::set<target_system> res;
  if (systems.radius)
    res.insert(target_system::radius);
  if (systems.netbox)
    res.insert(target_system::netbox);
  if (systems.voltha)
    res.insert(target_system::voltha);
  if (systems.genieacs)
    res.insert(target_system::genieacs);
  if (systems.awx)
    res.insert(target_system::awx);
  return res;
}

} // namespace ispflow::adapters::api
