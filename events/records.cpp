#include "events/records.hpp"

namespace ispflow::events {

std::ostream& operator<<(std::ostream& os, const kafka_record& x) {
  return os << x.topic << '/' << x.partition << '@' << x.offset
            << " key=" << (x.null_key ? std::string{"<null>"} : x.key) << " ("
            << x.value.size() << " bytes, " << x.headers.size() << " headers)";
}

} // namespace ispflow::events
