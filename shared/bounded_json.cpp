#include "shared/bounded_json.hpp"

#include <fmt/format.h>

#include "shared/error.hpp"

namespace remora {
namespace {

using nlohmann::json;

// nlohmann's own DOM builder, behind a SAX that stops at the first object or array past the limit.
class DepthLimitedSax : public json::json_sax_t {
 public:
  DepthLimitedSax(json& root, std::size_t max_depth) : dom_(root, false), max_depth_(max_depth) {}

  bool null() override { return dom_.null(); }
  bool boolean(bool v) override { return dom_.boolean(v); }
  bool number_integer(number_integer_t v) override { return dom_.number_integer(v); }
  bool number_unsigned(number_unsigned_t v) override { return dom_.number_unsigned(v); }
  bool number_float(number_float_t v, const string_t& s) override { return dom_.number_float(v, s); }
  bool string(string_t& v) override { return dom_.string(v); }
  bool binary(binary_t& v) override { return dom_.binary(v); }
  bool key(string_t& v) override { return dom_.key(v); }
  bool start_object(std::size_t n) override { return enter() && dom_.start_object(n); }
  bool start_array(std::size_t n) override { return enter() && dom_.start_array(n); }
  bool end_object() override {
    --depth_;
    return dom_.end_object();
  }
  bool end_array() override {
    --depth_;
    return dom_.end_array();
  }
  bool parse_error(std::size_t at, const std::string& token, const nlohmann::detail::exception& e) override {
    error_ = e.what();
    return dom_.parse_error(at, token, e);
  }

  bool too_deep() const { return too_deep_; }
  const std::string& error() const { return error_; }

 private:
  bool enter() {
    if (++depth_ <= max_depth_) return true;
    too_deep_ = true;
    return false;
  }

  nlohmann::detail::json_sax_dom_parser<json> dom_;
  std::size_t max_depth_;
  std::size_t depth_ = 0;
  bool too_deep_ = false;
  std::string error_;
};

}  // namespace

BoundedJson try_parse_bounded(std::string_view text, std::string_view what, const JsonLimits& limits) {
  using Refusal = BoundedJson::Refusal;
  BoundedJson out{json(json::value_t::discarded), Refusal::none, {}};
  if (text.size() > limits.max_bytes) {
    out.refusal = Refusal::too_large;
    out.error = fmt::format("{} is {} bytes, over the limit of {}", what, text.size(), limits.max_bytes);
    return out;
  }
  json root;
  DepthLimitedSax sax(root, limits.max_depth);
  bool ok = json::sax_parse(text.begin(), text.end(), &sax);
  if (sax.too_deep()) {
    out.refusal = Refusal::too_deep;
    out.error = fmt::format("{} nests deeper than {} levels", what, limits.max_depth);
  } else if (!ok) {
    out.refusal = Refusal::not_json;
    // The parser's message quotes the last bytes read, which may end inside a character.
    std::string why = json(sax.error().empty() ? "parse error" : sax.error())
                          .dump(-1, ' ', false, json::error_handler_t::replace);
    out.error = fmt::format("{} is not JSON: {}", what, json::parse(why).get<std::string>());
  } else {
    out.value = std::move(root);
  }
  return out;
}

json parse_bounded(std::string_view text, std::string_view what, const JsonLimits& limits) {
  auto parsed = try_parse_bounded(text, what, limits);
  if (!parsed.ok()) throw Error(Errc::invalid_argument, parsed.error);
  return std::move(parsed.value);
}

}  // namespace remora
