#include "sagas/definition.hpp"

#include <algorithm>
#include <array>

namespace ispflow::sagas {

namespace {

constexpr std::array<std::pair<target_system, std::string_view>, 6>
  system_names{{
    {target_system::none, "none"},
    {target_system::radius, "radius"},
    {target_system::netbox, "netbox"},
    {target_system::voltha, "voltha"},
    {target_system::genieacs, "genieacs"},
    {target_system::awx, "awx"},
  }};

} // namespace

std::string_view to_string(target_system x) noexcept {
  for (auto& [value, name] : system_names)
    if (value == x)
      return name;
  return "invalid";
}

std::optional<target_system>
parse_target_system(std::string_view str) noexcept {
  for (auto& [value, name] : system_names)
    if (name == str)
      return value;
  return std::nullopt;
}

tenant_profile full_tenant_profile() {
  return tenant_profile{{target_system::radius, target_system::netbox,
                         target_system::voltha, target_system::genieacs,
                         target_system::awx},
                        {}};
}

bool applies(const step_definition& step, std::string_view service_type,
             const tenant_profile& tenant) {
  if (step.system != target_system::none && !tenant.systems.count(step.system))
    return false;
  auto& types = step.applies_when.service_types;
  if (!types.empty()
      && std::find(types.begin(), types.end(), service_type) == types.end())
    return false;
  auto& policy = step.applies_when.policy;
  return policy.empty() || tenant.policies.count(policy) > 0;
}

bool requested(const step_definition& step,
               const std::map<std::string, std::string>& payload) {
  auto& flag = step.applies_when.payload_flag;
  if (flag.empty())
    return true;
  auto i = payload.find(flag);
  return i != payload.end() && i->second == "true";
}

std::optional<size_t>
saga_definition::index_of(std::string_view step_name) const {
  for (size_t i = 0; i < steps.size(); ++i)
    if (steps[i].name == step_name)
      return i;
  return std::nullopt;
}

std::optional<std::string> validate(const saga_definition& def) {
  if (def.name.empty())
    return std::string{"saga definition without a name"};
  auto where = def.name + " v" + std::to_string(def.version);
  if (def.steps.empty())
    return where + ": no steps";
  if (def.lifecycle_verb.empty())
    return where + ": no lifecycle verb";
  for (size_t i = 0; i < def.steps.size(); ++i) {
    auto& step = def.steps[i];
    if (step.name.empty())
      return where + ": step " + std::to_string(i) + " has no name";
    if (step.name.find('/') != std::string::npos)
      return where + ": step name " + step.name
             + " contains '/', which idempotency keys use as separator";
    if (def.index_of(step.name) != i)
      return where + ": duplicate step name " + step.name;
    if (step.action.empty())
      return where + ": step " + step.name + " has no action";
    if (step.attempt_timeout.count() <= 0 || step.deadline.count() <= 0
        || step.compensation_deadline.count() <= 0)
      return where + ": step " + step.name
             + " needs positive timeout and deadlines";
  }
  return std::nullopt;
}

std::optional<std::string> saga_registry::add(saga_definition def) {
  if (auto why = validate(def))
    return why;
  auto key = std::make_pair(def.name, def.version);
  if (defs_.count(key))
    return def.name + " v" + std::to_string(def.version)
           + " is already registered";
  defs_.emplace(std::move(key), std::move(def));
  return std::nullopt;
}

const saga_definition* saga_registry::find(std::string_view name,
                                           int32_t version) const {
  auto i = defs_.find(std::make_pair(std::string{name}, version));
  return i != defs_.end() ? &i->second : nullptr;
}

const saga_definition* saga_registry::current(std::string_view name) const {
  const saga_definition* result = nullptr;
  for (auto& [key, def] : defs_)
    if (key.first == name)
      result = &def; // keys sort by version, so the last one wins
  return result;
}

std::vector<std::pair<std::string, int32_t>> saga_registry::list() const {
  std::vector<std::pair<std::string, int32_t>> result;
  for (auto& entry : defs_)
    result.push_back(entry.first);
  return result;
}

} // namespace ispflow::sagas
