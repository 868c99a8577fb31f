// Graphviz for the report's model graph: finding the `dot` program and turning DOT text into an
// inline <svg> element by running `dot -Tsvg` (no shell; temporary files, removed afterwards).
// No shapes here.
#pragma once
#include <string>

namespace gb::interp::report {

// The path of an executable `name`: `name` itself when it holds a '/', else the first match on
// $PATH; "" when there is none (or name is empty).
std::string find_executable(const std::string& name);

// The SVG that `dot_exe -Tsvg` draws of `dot_text`, from its <svg element on (the XML prologue
// and doctype dropped), ready to be placed in an HTML page.
// throws: std::runtime_error naming dot_exe and quoting its error output when it cannot be run,
// fails, or prints no <svg> element.
std::string dot_to_svg(const std::string& dot_text, const std::string& dot_exe);

}  // namespace gb::interp::report
