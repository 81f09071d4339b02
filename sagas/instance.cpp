#include "sagas/instance.hpp"

#include <algorithm>

namespace ispflow::sagas {

saga_instance make_instance(const saga_definition& def, instance_seed seed,
                            time_point now) {
  saga_instance result;
  result.id = std::move(seed.id);
  result.name = def.name;
  result.version = def.version;
  result.tenant_id = std::move(seed.tenant_id);
  result.subscriber_id = std::move(seed.subscriber_id);
  result.service_type = std::move(seed.service_type);
  result.causation = std::move(seed.causation);
  result.payload = std::move(seed.payload);
  result.created_at = now;
  result.updated_at = now;
  result.steps.resize(def.steps.size());
  return result;
}

std::string idempotency_key(const saga_instance& inst,
                            const saga_definition& def, size_t step,
                            int64_t generation) {
  return inst.id + '/' + def.steps.at(step).name + '/'
         + std::to_string(generation);
}

field_map input_view(const saga_instance& inst, size_t step,
                     bool include_own_output) {
  auto result = inst.payload;
  auto end = std::min(include_own_output ? step + 1 : step, inst.steps.size());
  for (size_t i = 0; i < end; ++i)
    for (auto& [key, value] : inst.steps[i].output)
      result[key] = value;
  return result;
}

std::optional<std::string> check_instance(const saga_definition& def,
                                          const saga_instance& inst) {
  if (inst.name != def.name || inst.version != def.version)
    return "instance " + inst.id + " is " + inst.name + " v"
           + std::to_string(inst.version) + ", not " + def.name + " v"
           + std::to_string(def.version);
  if (inst.steps.size() != def.steps.size())
    return "instance " + inst.id + " has " + std::to_string(inst.steps.size())
           + " step records for " + std::to_string(def.steps.size()) + " steps";
  if (inst.cursor >= def.steps.size())
    return "instance " + inst.id + " has cursor " + std::to_string(inst.cursor)
           + " out of range";
  return std::nullopt;
}

bool is_secret_field(std::string_view key) noexcept {
  auto contains = [key](std::string_view word) {
    if (key.size() < word.size())
      return false;
    for (size_t i = 0; i + word.size() <= key.size(); ++i) {
      size_t k = 0;
      while (k < word.size()) {
        auto c = key[i + k];
        if (c >= 'A' && c <= 'Z')
          c = static_cast<char>(c - 'A' + 'a');
        if (c != word[k])
          break;
        ++k;
      }
      if (k == word.size())
        return true;
    }
    return false;
  };
  return contains("password") || contains("secret") || contains("token")
         || contains("psk") || contains("sealed");
}

bool secrets_needed(const saga_definition& def, const saga_instance& inst) {
  switch (inst.state) {
    case saga_state::pending:
    case saga_state::running:
      break;
    default:
      return false;
  }
  for (size_t i = 0; i < def.steps.size() && i < inst.steps.size(); ++i) {
    const auto& action = def.steps[i].action;
    if (action != "radius.provision" && action != "genieacs.configure_cpe")
      continue;
    auto st = inst.steps[i].state;
    if (st != step_state::succeeded && st != step_state::skipped)
      return true;
  }
  return false;
}

void drop_secrets(saga_instance& inst) {
  for (auto i = inst.payload.begin(); i != inst.payload.end();)
    if (is_secret_field(i->first))
      i = inst.payload.erase(i);
    else
      ++i;
}

} // namespace ispflow::sagas
