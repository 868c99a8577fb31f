// trace_model_graph: one traced forward pass of a zero image turned into nodes (producers found
// by tensor identity); graph_to_dot: those nodes as Graphviz DOT, clustered by top-level module;
// render_svg: Graphviz run on temporary files.
// Shape letters: C channels, H/W image size.
#include "models/model_graph.h"

#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string_view>
#include <unordered_map>

#include "runtime/autograd.h"
#include "runtime/trace.h"

extern char** environ;

namespace gb::models {
namespace {

std::string format_attr(const std::vector<double>& values) {
  std::string out;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ",";
    const double v = values[i];
    out += v == std::floor(v) && std::fabs(v) < 1e15 ? fmt::format("{}", static_cast<int64_t>(v))
                                                     : fmt::format("{:g}", v);
  }
  return out;
}

// "layer1.0.conv1" + "conv2d" -> "layer1/0/conv1/conv2d", made unique with "_2", "_3", ...
std::string scoped_name(const std::string& module, const std::string& op,
                        std::map<std::string, int>& taken) {
  std::string base = module;
  for (char& c : base) {
    if (c == '.') c = '/';
  }
  base = base.empty() ? op : base + "/" + op;
  const int n = ++taken[base];
  return n == 1 ? base : fmt::format("{}_{}", base, n);
}

std::unordered_map<const void*, std::string> parameter_names(const Module& model) {
  std::unordered_map<const void*, std::string> names;
  for (const auto& [name, t] : model.named_parameters()) names[t.impl()] = name;
  for (const auto& [name, t] : model.named_buffers()) names[t.impl()] = name;
  return names;
}

}  // namespace

ModelGraph trace_model_graph(Module& model, const Shape& input_shape) {
  if (input_shape.size() != 3) {
    throw std::invalid_argument("model graph: the input shape must be C,H,W, got " +
                                shape_str(input_shape));
  }
  ModelGraph g;
  g.input_shape = {1, input_shape[0], input_shape[1], input_shape[2]};
  model.eval();
  const Tensor input = Tensor::zeros(g.input_shape).to(model.device());
  OpTrace trace;
  Tensor output;
  {
    NoGradGuard no_grad;
    TraceScope scope(trace);
    output = model(input);
  }
  const auto params = parameter_names(model);
  std::unordered_map<const void*, int> producer;
  producer[input.impl()] = ModelGraph::kModelInput;
  std::map<std::string, int> taken;
  for (const TracedOp& op : trace.ops) {
    ModelGraphNode node;
    node.op = op.op ? op_name(*op.op) : op.label;
    node.module = op.module;
    node.name = scoped_name(op.module, node.op, taken);
    node.output_shape = op.output.shape();
    for (const Tensor& in : op.inputs) {
      if (!in.defined()) continue;
      if (auto p = params.find(in.impl()); p != params.end()) {
        node.params.push_back(p->second);
      } else if (auto it = producer.find(in.impl()); it != producer.end()) {
        node.inputs.push_back(it->second);
      } else {
        node.inputs.push_back(ModelGraph::kConstant);
      }
    }
    for (const auto& [key, values] : op.attrs) node.attrs.emplace_back(key, format_attr(values));
    producer[op.output.impl()] = static_cast<int>(g.nodes.size());
    g.nodes.push_back(std::move(node));
  }
  if (auto it = producer.find(output.impl()); it != producer.end()) g.output = it->second;
  return g;
}

namespace {

std::string dot_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string node_label(const ModelGraphNode& n) {
  std::string label =
      n.module.empty() ? dot_escape(n.op) : dot_escape(n.module) + "\\n" + dot_escape(n.op);
  label += "\\n" + dot_escape(shape_str(n.output_shape));
  std::string params;
  for (const auto& p : n.params) {
    const auto dot = p.rfind('.');
    params += (params.empty() ? "" : ", ") + (dot == std::string::npos ? p : p.substr(dot + 1));
  }
  if (!params.empty()) label += "\\n" + dot_escape(params);
  std::string attrs;
  for (const auto& [key, value] : n.attrs) attrs += (attrs.empty() ? "" : " ") + key + "=" + value;
  if (!attrs.empty()) label += "\\n" + dot_escape(attrs);
  return label;
}

std::string top_module(const std::string& module) { return module.substr(0, module.find('.')); }

}  // namespace

std::string graph_to_dot(const ModelGraph& g, const std::string& title) {
  std::string out = fmt::format(
      "digraph \"{}\" {{\n  label=\"{}\";\n  labelloc=t;\n  rankdir=TB;\n"
      "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#eef3fb\", fontname=Helvetica, "
      "fontsize=10];\n  edge [fontname=Helvetica, fontsize=8, color=\"#555555\"];\n",
      dot_escape(title), dot_escape(title));
  out += fmt::format("  input [label=\"input\\n{}\", shape=ellipse, fillcolor=\"#fdf1d6\"];\n",
                     dot_escape(shape_str(g.input_shape)));
  // Nodes, grouped into one cluster per top-level module (in first-seen order).
  std::vector<std::string> clusters;
  std::map<std::string, std::vector<size_t>> members;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const std::string top = top_module(g.nodes[i].module);
    if (!members.contains(top)) clusters.push_back(top);
    members[top].push_back(i);
  }
  for (size_t c = 0; c < clusters.size(); ++c) {
    const bool boxed = !clusters[c].empty() && members[clusters[c]].size() > 1;
    if (boxed) {
      out += fmt::format("  subgraph cluster_{} {{\n    label=\"{}\";\n    style=dashed;\n", c,
                         dot_escape(clusters[c]));
    }
    for (size_t i : members[clusters[c]]) {
      out += fmt::format("    n{} [label=\"{}\"];\n", i, node_label(g.nodes[i]));
    }
    if (boxed) out += "  }\n";
  }
  bool any_constant = false;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (int src : g.nodes[i].inputs) {
      if (src == ModelGraph::kConstant) any_constant = true;
      const std::string from = src == ModelGraph::kModelInput ? "input"
                               : src == ModelGraph::kConstant ? "constant"
                                                              : fmt::format("n{}", src);
      const std::string shape =
          src >= 0 ? shape_str(g.nodes[static_cast<size_t>(src)].output_shape)
                   : (src == ModelGraph::kModelInput ? shape_str(g.input_shape) : "");
      out += fmt::format("  {} -> n{} [label=\"{}\"];\n", from, i, dot_escape(shape));
    }
  }
  if (any_constant) out += "  constant [shape=plaintext, fillcolor=white];\n";
  if (g.output >= 0) {
    out += "  output [shape=ellipse, fillcolor=\"#fdf1d6\"];\n";
    out += fmt::format("  n{} -> output;\n", g.output);
  }
  out += "}\n";
  return out;
}

namespace {

// The directory on PATH holding an executable `program`, or "" when none does.
std::filesystem::path find_on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string_view rest = path ? path : "";
  while (!rest.empty()) {
    const size_t colon = rest.find(':');
    const std::filesystem::path dir(std::string(rest.substr(0, colon)));
    rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    if (!dir.empty() && ::access((dir / program).c_str(), X_OK) == 0) return dir / program;
  }
  return {};
}

// A fresh temporary file (created empty, removed by the destructor).
struct TempFile {
  std::filesystem::path path;
  explicit TempFile(const char* suffix) {
    std::string name = (std::filesystem::temp_directory_path() / "glassbox-graph-XXXXXX").string();
    name += suffix;
    const int fd = ::mkstemps(name.data(), static_cast<int>(std::strlen(suffix)));
    if (fd < 0) throw std::runtime_error("render_svg: cannot create a temporary file");
    ::close(fd);
    path = name;
  }
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
};

}  // namespace

std::optional<std::string> render_svg(const std::string& dot) {
  const std::filesystem::path program = find_on_path("dot");
  if (program.empty()) return std::nullopt;
  TempFile in(".dot"), out(".svg");
  {
    std::ofstream f(in.path, std::ios::binary);
    f << dot;
    if (!f) throw std::runtime_error("render_svg: cannot write " + in.path.string());
  }
  std::vector<std::string> args{program.string(), "-Tsvg", in.path.string(), "-o",
                                out.path.string()};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (::posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) {
    throw std::runtime_error("render_svg: cannot run " + program.string());
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error(fmt::format("render_svg: {} failed (status {})", program.string(),
                                         WIFEXITED(status) ? WEXITSTATUS(status) : -1));
  }
  std::ifstream f(out.path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

}  // namespace gb::models
