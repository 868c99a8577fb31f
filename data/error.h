// DataError: the one exception type of the data module. Its message always reads
// "<file>: <cause>" so a user can see which input is wrong and why.
#pragma once
#include <stdexcept>
#include <string>

namespace gb::data {

class DataError : public std::runtime_error {
 public:
  // requires: path names the offending file, directory or archive entry; cause is a short phrase.
  DataError(const std::string& path, const std::string& cause)
      : std::runtime_error(path + ": " + cause), path_(path) {}

  // The file (or "archive:entry") the error is about.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace gb::data
