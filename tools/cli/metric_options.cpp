// The metric flags of evaluate-explanations (see metric_options.h).
#include "tools/cli/metric_options.h"

#include <CLI/CLI.hpp>
#include <stdexcept>

namespace gb::cli {
namespace {

std::vector<double> parse_percentages(const std::string& csv) {
  std::vector<double> out;
  size_t start = 0;
  while (start <= csv.size()) {
    const size_t comma = std::min(csv.find(',', start), csv.size());
    const std::string item = csv.substr(start, comma - start);
    start = comma + 1;
    if (item.find_first_not_of(" \t") == std::string::npos) continue;
    size_t used = 0;
    double v = 0;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || item.find_first_not_of(" \t", used) != std::string::npos) {
      throw std::invalid_argument("--road-percentages: '" + item + "' is not a number");
    }
    out.push_back(v / 100.0);
  }
  return out;
}

}  // namespace

void add_metric_options(CLI::App& app, MetricFlags& f) {
  interp::eval::MetricParams& p = f.params;
  app.add_option("--metrics", f.metrics,
                 "metrics to run on every map, or all (every one but data-randomization): " +
                     interp::eval::metric_list_text())
      ->capture_default_str();
  app.add_option("--road-percentages", f.road_percentages,
                 "ROAD: percent of pixels removed (each < 100)")
      ->capture_default_str();
  app.add_option("--road-noise", p.road.noise, "ROAD: imputation noise std, pixel units")
      ->capture_default_str();
  app.add_option("--pf-step", p.pixel_flipping.features_in_step,
                 "pixel flipping: pixels flipped per step")
      ->capture_default_str();
  app.add_option("--aopc-patch", p.aopc.patch, "AOPC: region side in pixels")
      ->capture_default_str();
  app.add_option("--aopc-regions", p.aopc.regions, "AOPC: regions perturbed (0: all)")
      ->capture_default_str();
  app.add_option("--fc-runs", p.faithfulness.runs, "faithfulness correlation: random subsets")
      ->capture_default_str();
  app.add_option("--fc-subset", p.faithfulness.subset,
                 "faithfulness correlation: pixels per subset")
      ->capture_default_str();
  app.add_option("--infidelity-samples", p.infidelity.samples, "infidelity: perturbations")
      ->capture_default_str();
  app.add_option("--infidelity-perturbation", f.infidelity_perturbation,
                 "infidelity: square or gaussian")
      ->capture_default_str();
  app.add_option("--infidelity-square-max", p.infidelity.square_max,
                 "infidelity: largest square side")
      ->capture_default_str();
  app.add_option("--infidelity-sigma", p.infidelity.sigma, "infidelity: gaussian std, pixel units")
      ->capture_default_str();
  app.add_option("--infidelity-normalize", p.infidelity.normalize,
                 "infidelity: rescale the map by the optimal beta (true/false)")
      ->capture_default_str();
  app.add_option("--sensitivity-radius", p.sensitivity.radius,
                 "max-sensitivity: L_inf radius, pixel units")
      ->capture_default_str();
  app.add_option("--sensitivity-samples", p.sensitivity.samples,
                 "max-sensitivity: perturbed inputs re-explained")
      ->capture_default_str();
  app.add_option("--mprt-order", p.mprt.order,
                 "MPRT layer order: trace (reverse first use in a forward) or registration")
      ->capture_default_str();
  app.add_option("--mprt-init", p.mprt.init,
                 "MPRT re-draw: spread (N(mean,std) per tensor) or fresh (a new model's init)")
      ->capture_default_str();
  app.add_option("--mprt-granularity", p.mprt.granularity,
                 "MPRT: randomise each module, or each block (children of top-level stages)")
      ->capture_default_str();
  app.add_flag("--mprt-reset-bn-stats", p.mprt.reset_bn_stats,
               "MPRT: also reset running mean/var of randomised BatchNorms to 0/1");
  app.add_option("--mprt-images", p.mprt.images, "MPRT: first images re-explained (0: all)")
      ->capture_default_str();
  interp::eval::LocalisationParams& l = p.localisation;
  app.add_option("--localisation", l.set.count,
                 "pointing game / relevance mass: samples of the generated localisation set")
      ->capture_default_str();
  app.add_option("--loc-scale", l.set.scale, "localisation set: pasted object side / image side")
      ->capture_default_str();
  app.add_option("--loc-source", l.source,
                 "localisation set: test images the objects and backgrounds come from")
      ->capture_default_str();
  app.add_flag("--loc-keep-all", f.loc_keep_all,
               "localisation set: keep samples the model does not assign to the object's class");
  app.add_option("--pointing-tolerance", l.tolerance, "pointing game: tolerance in pixels")
      ->capture_default_str();
  app.add_option("--mass-sign", l.mass_sign, "relevance mass of abs, positive or signed values")
      ->capture_default_str();
  interp::eval::DataRandomizationParams& d = p.data_randomization;
  app.add_option("--dr-train-limit", d.train_limit,
                 "data randomization: training images whose labels are permuted")
      ->capture_default_str();
  app.add_option("--dr-epochs", d.max_epochs, "data randomization: most epochs of training")
      ->capture_default_str();
  app.add_option("--dr-check-every", d.check_every,
                 "data randomization: epochs per round; memorisation is checked after each")
      ->capture_default_str();
  app.add_option("--dr-min-accuracy", d.min_accuracy,
                 "data randomization: memorisation accuracy to reach before comparing")
      ->capture_default_str();
  app.add_flag("--dr-allow-underfit", d.allow_underfit,
               "data randomization: compare even below --dr-min-accuracy");
  app.add_option("--dr-lr", d.lr, "data randomization: learning rate")->capture_default_str();
  app.add_option("--dr-batch", d.batch_size, "data randomization: batch size")
      ->capture_default_str();
}

void apply_metric_flags(MetricFlags& f, std::vector<std::string>& metrics,
                        interp::eval::MetricParams& params) {
  metrics = interp::eval::parse_metric_list(f.metrics);
  f.params.road.fractions = parse_percentages(f.road_percentages);
  if (f.infidelity_perturbation == "square") {
    f.params.infidelity.perturbation = interp::eval::InfidelityPerturbation::Square;
  } else if (f.infidelity_perturbation == "gaussian") {
    f.params.infidelity.perturbation = interp::eval::InfidelityPerturbation::Gaussian;
  } else {
    throw std::invalid_argument("--infidelity-perturbation: '" + f.infidelity_perturbation +
                                "' (known: square, gaussian)");
  }
  f.params.localisation.set.require_correct = !f.loc_keep_all;
  interp::eval::check_metric_params(f.params);
  params = f.params;
}

}  // namespace gb::cli
