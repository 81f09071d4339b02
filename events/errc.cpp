#include "events/errc.hpp"

#include <caf/atom.hpp>
#include <caf/message.hpp>

namespace ispflow {

std::string to_string(errc x) {
  switch (x) {
    case errc::unspecified:
      return "unspecified";
    case errc::invalid_config:
      return "invalid_config";
    case errc::database_unavailable:
      return "database_unavailable";
    case errc::database_error:
      return "database_error";
    case errc::migration_failed:
      return "migration_failed";
    case errc::kafka_error:
      return "kafka_error";
    case errc::invalid_input:
      return "invalid_input";
    case errc::timeout:
      return "timeout";
    case errc::shutting_down:
      return "shutting_down";
    case errc::stale_epoch:
      return "stale_epoch";
  }
  return "errc(" + std::to_string(static_cast<int>(x)) + ")";
}

std::string render_error(const caf::error& err) {
  if (!err)
    return "none";
  if (err.category() != caf::atom("ispflow"))
    return caf::to_string(err);
  std::string out = to_string(static_cast<errc>(err.code()));
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0)) {
    out += ": ";
    out += ctx.get_as<std::string>(0);
  } else if (!ctx.empty()) {
    out += ": ";
    out += caf::to_string(ctx);
  }
  return out;
}

} // namespace ispflow
