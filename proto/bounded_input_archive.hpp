// A cereal input archive for the portable-binary bodies of records (proto/codec.hpp) that reads
// from the bytes in place and believes no length the bytes cannot hold: a string's or a
// container's size tag larger than the bytes left is an error before anything is allocated. (A
// corrupt or hostile record whose tag claims 2^40 bytes made cereal's own archive resize a string
// to that size; found by the record fuzz target, docs/fuzzing.md.)
#pragma once

#include <cereal/archives/portable_binary.hpp>
#include <cereal/cereal.hpp>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

namespace remora::proto {

class BoundedInputArchive : public cereal::InputArchive<BoundedInputArchive, cereal::AllowEmptyClassElision> {
 public:
  // The body as cereal::PortableBinaryOutputArchive wrote it: a byte saying whether the writer was
  // little-endian, then the fields.
  explicit BoundedInputArchive(std::string_view bytes)
      : cereal::InputArchive<BoundedInputArchive, cereal::AllowEmptyClassElision>(this), bytes_(bytes) {
    std::uint8_t writer_little = 0;
    (*this)(writer_little);
    const std::uint16_t probe = 1;
    std::uint8_t here_little = 0;
    std::memcpy(&here_little, &probe, 1);
    swap_ = (writer_little != 0) != (here_little != 0);
  }

  std::size_t remaining() const { return bytes_.size() - pos_; }

  template <std::size_t ElementSize>
  void load_binary(void* data, std::size_t size) {
    if (size > remaining())
      throw cereal::Exception("needs " + std::to_string(size) + " bytes, " + std::to_string(remaining()) + " left");
    if (size == 0) return;  // an empty vector's data() may be null: no memcpy from or to it
    std::memcpy(data, bytes_.data() + pos_, size);
    pos_ += size;
    if (swap_ && ElementSize > 1)
      for (std::size_t i = 0; i + ElementSize <= size; i += ElementSize) {
        auto* p = static_cast<unsigned char*>(data) + i;
        for (std::size_t a = 0, b = ElementSize - 1; a < b; ++a, --b) std::swap(p[a], p[b]);
      }
  }

 private:
  std::string_view bytes_;
  std::size_t pos_ = 0;
  bool swap_ = false;
};

template <class T>
  requires(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>)
void CEREAL_LOAD_FUNCTION_NAME(BoundedInputArchive& ar, T& t) {
  ar.template load_binary<sizeof(T)>(std::addressof(t), sizeof(t));
}

// A bool is one byte, 0 or 1: any other value is corrupt (copied into a bool, it is undefined).
inline void CEREAL_LOAD_FUNCTION_NAME(BoundedInputArchive& ar, bool& b) {
  std::uint8_t v = 0;
  ar.template load_binary<1>(&v, 1);
  if (v > 1) throw cereal::Exception("a bool of value " + std::to_string(v));
  b = v != 0;
}

template <class T>
void CEREAL_LOAD_FUNCTION_NAME(BoundedInputArchive& ar, cereal::NameValuePair<T>& t) {
  ar(t.value);
}

// Every element of a record's strings and containers takes at least one byte: a count above the
// bytes left cannot be true.
template <class T>
void CEREAL_LOAD_FUNCTION_NAME(BoundedInputArchive& ar, cereal::SizeTag<T>& t) {
  ar(t.size);
  if (static_cast<std::uint64_t>(t.size) > ar.remaining())
    throw cereal::Exception("a length of " + std::to_string(static_cast<std::uint64_t>(t.size)) + " with only " +
                            std::to_string(ar.remaining()) + " bytes left");
}

template <class T>
void CEREAL_LOAD_FUNCTION_NAME(BoundedInputArchive& ar, cereal::BinaryData<T>& bd) {
  using Element = std::remove_pointer_t<T>;
  ar.template load_binary<sizeof(Element)>(bd.data, static_cast<std::size_t>(bd.size));
}

}  // namespace remora::proto

CEREAL_REGISTER_ARCHIVE(remora::proto::BoundedInputArchive)
// Half of CEREAL_SETUP_ARCHIVE_TRAITS: records are written by cereal's portable-binary output archive,
// whose own input archive keeps the other half.
namespace cereal::traits::detail {
template <>
struct get_output_from_input<remora::proto::BoundedInputArchive> {
  using type = cereal::PortableBinaryOutputArchive;
};
}  // namespace cereal::traits::detail
