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

} // namespace ispflow::sagas
