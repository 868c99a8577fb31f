// The metric table of evaluate-explanations (see metric_registry.h).
#include "interp/eval/metric_registry.h"

#include <algorithm>
#include <stdexcept>

#include "interp/eval/image_space.h"
#include "interp/eval/map_scores.h"
#include "interp/metrics.h"

namespace gb::interp::eval {
namespace {
using json = nlohmann::json;

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

const char* score_name(Score s) { return s == Score::Logit ? "logit" : "probability"; }

MetricValues curve_values(const Curve& c) {
  MetricValues v;
  v.scalars["auc"] = c.auc;
  v.curves["fraction"] = c.fraction;
  v.curves["score"] = c.score;
  return v;
}

MetricValues road_values(const MetricContext& ctx, const ImageCase& c, const MetricParams& p) {
  RoadOptions o = p.road;
  o.norm = ctx.norm;
  o.seed = ctx.seed;
  o.stream = metric_stream(metric_info("road").id, c.index);
  o.batch = ctx.batch;
  const RoadResult r = road(*ctx.model, c.x, c.map, c.target, c.label, o);
  MetricValues v;
  v.scalars["morf_probability_auc"] = r.morf.probability_auc;
  v.scalars["lerf_probability_auc"] = r.lerf.probability_auc;
  v.scalars["morf_accuracy_auc"] = r.morf.accuracy_auc;
  v.scalars["lerf_accuracy_auc"] = r.lerf.accuracy_auc;
  v.scalars["lerf_minus_morf_probability_auc"] = r.lerf.probability_auc - r.morf.probability_auc;
  v.curves["fraction"] = r.fraction;
  v.curves["morf_probability"] = r.morf.probability;
  v.curves["lerf_probability"] = r.lerf.probability;
  v.curves["morf_accuracy"] = r.morf.correct;
  v.curves["lerf_accuracy"] = r.lerf.correct;
  return v;
}

MetricValues perturbation_values(const std::string& name, const MetricContext& ctx,
                                 const ImageCase& c, const MetricParams& p) {
  MetricValues v;
  const uint64_t stream = metric_stream(metric_info(name).id, c.index);
  if (name == "pixel-flipping") {
    PixelFlippingOptions o = p.pixel_flipping;
    o.batch = ctx.batch;
    const PerturbationCurve r = pixel_flipping(*ctx.model, c.x, c.map, c.target, o);
    v.scalars["auc"] = r.auc;
    v.curves["fraction"] = r.fraction;
    v.curves["score"] = r.score;
  } else if (name == "aopc") {
    AopcOptions o = p.aopc;
    o.norm = ctx.norm;
    o.seed = ctx.seed;
    o.stream = stream;
    o.batch = ctx.batch;
    const AopcResult r = aopc(*ctx.model, c.x, c.map, c.target, o);
    v.scalars["aopc"] = r.aopc;
    v.curves["score"] = r.score;
  } else if (name == "faithfulness-correlation") {
    FaithfulnessCorrelationOptions o = p.faithfulness;
    o.seed = ctx.seed;
    o.stream = stream;
    o.batch = ctx.batch;
    v.scalars["correlation"] =
        faithfulness_correlation(*ctx.model, c.x, c.map, c.target, o).correlation;
  }
  return v;
}

MetricValues robustness_values(const std::string& name, const MetricContext& ctx,
                               const ImageCase& c, const MetricParams& p) {
  MetricValues v;
  const uint64_t stream = metric_stream(metric_info(name).id, c.index);
  if (name == "infidelity") {
    InfidelityOptions o = p.infidelity;
    o.norm = ctx.norm;
    o.seed = ctx.seed;
    o.stream = stream;
    o.batch = ctx.batch;
    const InfidelityResult r = infidelity(*ctx.model, c.x, c.map, c.target, o);
    v.scalars["infidelity"] = r.infidelity;
    v.scalars["beta"] = r.beta;
  } else {
    if (!ctx.explain) throw std::invalid_argument("max-sensitivity: no explain function");
    SensitivityOptions o = p.sensitivity;
    o.norm = ctx.norm;
    o.seed = ctx.seed;
    o.stream = stream;
    v.scalars["max_sensitivity"] = max_sensitivity(ctx.explain, c.x, c.map, c.target, o);
  }
  return v;
}

}  // namespace

const std::vector<MetricInfo>& metric_infos() {
  static const std::vector<MetricInfo> infos = {
      {"deletion", 1, "Petsiuk, Das, Saenko, BMVC 2018 (RISE)",
       "auc of the target probability as pixels are deleted: lower is more faithful"},
      {"insertion", 2, "Petsiuk, Das, Saenko, BMVC 2018 (RISE)",
       "auc of the target probability as pixels are inserted into a blurred image: higher is "
       "more faithful"},
      {"road", 3, "Rong, Leemann, Borisov, Kasneci, Kasneci, ICML 2022 (arXiv:2202.00449)",
       "MoRF auc lower and LeRF auc higher is more faithful; lerf_minus_morf (glassbox's "
       "summary, not from the paper): higher is better"},
      {"pixel-flipping", 4, "Bach et al., PLOS ONE 2015",
       "auc of the target probability as pixels are flipped to black: lower is more faithful"},
      {"aopc", 5, "Samek, Binder, Montavon, Lapuschkin, Mueller, IEEE TNNLS 2017",
       "area over the MoRF perturbation curve: higher is more faithful"},
      {"faithfulness-correlation", 6, "Bhatt, Weller, Moura, IJCAI 2020",
       "Pearson correlation of subset attribution and score drop: higher is more faithful"},
      {"infidelity", 7, "Yeh, Hsieh, Suggala, Inouye, Ravikumar, NeurIPS 2019",
       "expected squared error of the map's predicted score change: lower is more faithful"},
      {"max-sensitivity", 8, "Yeh, Hsieh, Suggala, Inouye, Ravikumar, NeurIPS 2019",
       "largest relative map change in a small ball: lower is more robust"},
      {"sparseness", 9, "Chalasani, Chen, Chowdhury, Wu, Jha, ICML 2020",
       "Gini index of |map|: higher is sparser"},
      {"complexity", 10, "Bhatt, Weller, Moura, IJCAI 2020",
       "entropy of the normalised |map|: lower is simpler"},
      {"random-logit", 11, "Sixt, Granz, Landgraf, ICML 2020",
       "SSIM of the maps for the explained and a random other class: lower passes"},
      {"mprt-cascading", 12, "Adebayo, Gilmer, Muelly, Goodfellow, Hardt, Kim, NeurIPS 2018",
       "similarity to the trained model's map as layers are randomised from the output down: "
       "lower passes"},
      {"mprt-independent", 13, "Adebayo, Gilmer, Muelly, Goodfellow, Hardt, Kim, NeurIPS 2018",
       "similarity to the trained model's map with one layer randomised at a time: lower passes"},
      {"pointing-game", 14, "Zhang, Bargal, Lin, Brandt, Shen, Sclaroff, ECCV 2016 (IJCV 2018)",
       "fraction of maps whose maximum lies on the pasted object: higher is better"},
      {"relevance-mass", 15, "Arras, Osman, Samek, Information Fusion 2022 (CLEVR-XAI)",
       "share of the map's relevance on the pasted object: higher is better"},
      {"data-randomization", 16, "Adebayo, Gilmer, Muelly, Goodfellow, Hardt, Kim, NeurIPS 2018",
       "similarity to the map of a model trained on permuted labels: lower passes", false},
  };
  return infos;
}

const MetricInfo& metric_info(const std::string& name) {
  for (const MetricInfo& m : metric_infos()) {
    if (m.name == name) return m;
  }
  throw std::invalid_argument("--metrics: unknown metric '" + name + "' (known: all, " +
                              metric_list_text() + ")");
}

std::string metric_list_text() {
  std::string s;
  for (const MetricInfo& m : metric_infos()) s += (s.empty() ? "" : ", ") + m.name;
  return s;
}

std::vector<std::string> parse_metric_list(const std::string& csv) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= csv.size()) {
    const size_t comma = std::min(csv.find(',', start), csv.size());
    const std::string name = trim(csv.substr(start, comma - start));
    start = comma + 1;
    if (name.empty()) continue;
    if (name == "all") {
      for (const MetricInfo& m : metric_infos()) {
        if (m.in_all && std::find(out.begin(), out.end(), m.name) == out.end()) {
          out.push_back(m.name);
        }
      }
      continue;
    }
    metric_info(name);  // throws for unknown names
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  }
  if (out.empty()) throw std::invalid_argument("--metrics: empty list");
  return out;
}

void check_metric_params(const MetricParams& p) {
  check_road_options(p.road);
  if (p.pixel_flipping.features_in_step < 1) throw std::invalid_argument("--pf-step must be >= 1");
  if (p.aopc.patch < 1) throw std::invalid_argument("--aopc-patch must be >= 1");
  if (p.aopc.regions < 0) throw std::invalid_argument("--aopc-regions must be >= 0");
  if (p.faithfulness.runs < 2) throw std::invalid_argument("--fc-runs must be >= 2");
  if (p.faithfulness.subset < 1) throw std::invalid_argument("--fc-subset must be >= 1");
  check_infidelity_options(p.infidelity);
  check_sensitivity_options(p.sensitivity);
  if (p.mprt.order != "trace" && p.mprt.order != "registration") {
    throw std::invalid_argument("--mprt-order: '" + p.mprt.order +
                                "' (known: trace, registration)");
  }
  if (p.mprt.granularity != "module" && p.mprt.granularity != "block") {
    throw std::invalid_argument("--mprt-granularity: '" + p.mprt.granularity +
                                "' (known: module, block)");
  }
  if (p.mprt.init != "spread" && p.mprt.init != "fresh") {
    throw std::invalid_argument("--mprt-init: '" + p.mprt.init + "' (known: spread, fresh)");
  }
  if (p.mprt.images < 0) throw std::invalid_argument("--mprt-images must be >= 0");
  const LocalisationParams& l = p.localisation;
  if (l.set.count < 1) throw std::invalid_argument("--localisation must be >= 1");
  if (!(l.set.scale > 0 && l.set.scale <= 1)) {
    throw std::invalid_argument("--loc-scale must be in (0, 1]");
  }
  if (l.source < 2) throw std::invalid_argument("--loc-source must be >= 2");
  if (!(l.tolerance >= 0)) throw std::invalid_argument("--pointing-tolerance must be >= 0");
  parse_mass_sign(l.mass_sign);
  const DataRandomizationParams& d = p.data_randomization;
  if (d.train_limit < 2) throw std::invalid_argument("--dr-train-limit must be >= 2");
  if (d.max_epochs < 1) throw std::invalid_argument("--dr-epochs must be >= 1");
  if (d.check_every < 1) throw std::invalid_argument("--dr-check-every must be >= 1");
  if (!(d.min_accuracy > 0 && d.min_accuracy <= 1)) {
    throw std::invalid_argument("--dr-min-accuracy must be in (0, 1]");
  }
  if (!(d.lr > 0)) throw std::invalid_argument("--dr-lr must be > 0");
  if (d.batch_size < 1) throw std::invalid_argument("--dr-batch must be >= 1");
}

json metric_parameters(const std::string& name, const MetricParams& p) {
  if (name == "deletion") {
    return {{"steps", 32}, {"fill", "constant 0 (normalised units)"}, {"score", "probability"}};
  }
  if (name == "insertion") {
    return {{"steps", 32}, {"start", "gaussian blur, sigma 4 px"}, {"score", "probability"}};
  }
  if (name == "road") {
    std::vector<double> pct;
    for (const double f : p.road.fractions) pct.push_back(f * 100.0);
    return {{"percentages", pct},
            {"noise", p.road.noise},
            {"imputation", "noisy linear (8-neighbour, 1/6 axial, 1/12 diagonal), pixel space"},
            {"orders", {"morf", "lerf"}},
            {"percentages_meaning", "percent of pixels removed, in both orders"},
            {"accuracy_vs", "true label"},
            {"probability_of", "originally predicted class"}};
  }
  if (name == "pixel-flipping") {
    return {{"features_in_step", p.pixel_flipping.features_in_step},
            {"fill", "black: the image's minimum (Quantus)"},
            {"score", score_name(p.pixel_flipping.score)}};
  }
  if (name == "aopc") {
    return {{"patch", p.aopc.patch},
            {"regions", p.aopc.regions == 0 ? json("all") : json(p.aopc.regions)},
            {"fill", "uniform [0,1] per pixel and channel, pixel units"},
            {"order", "morf"},
            {"score", score_name(p.aopc.score)}};
  }
  if (name == "faithfulness-correlation") {
    return {{"runs", p.faithfulness.runs},
            {"subset", p.faithfulness.subset},
            {"feature", "pixel (all channels)"},
            {"baseline", "black: the image's minimum (Quantus)"},
            {"score", score_name(p.faithfulness.score)}};
  }
  if (name == "infidelity") {
    const bool sq = p.infidelity.perturbation == InfidelityPerturbation::Square;
    json j = {{"samples", p.infidelity.samples},
              {"perturbation", sq ? "square" : "gaussian"},
              {"normalize", p.infidelity.normalize},
              {"score", score_name(p.infidelity.score)}};
    if (sq)
      j["square_max"] = p.infidelity.square_max;
    else
      j["sigma"] = p.infidelity.sigma;
    return j;
  }
  if (name == "max-sensitivity") {
    return {{"radius", p.sensitivity.radius},
            {"radius_units", "pixel [0,1]; /std per channel in the model's units"},
            {"samples", p.sensitivity.samples},
            {"norm", "Frobenius, relative to ||a(x)||"}};
  }
  if (name == "random-logit") {
    return {{"similarity", "2-D SSIM (7x7, skimage defaults) of a / max|a|"},
            {"other_class", "uniform over the K-1 other classes, Philox(seed, image)"}};
  }
  if (is_model_metric(name)) {
    return {{"order", p.mprt.order},
            {"init", p.mprt.init},
            {"granularity", p.mprt.granularity},
            {"init_used", p.mprt.init_used.empty() ? p.mprt.init : p.mprt.init_used},
            {"reset_bn_stats", p.mprt.reset_bn_stats},
            {"images", p.mprt.images == 0 ? json("all") : json(p.mprt.images)},
            {"layers", p.mprt.layers},
            {"similarities",
             {"spearman", "spearman_abs", "ssim of |a|/max|a|", "hog pearson of |a|/max|a|"}}};
  }
  if (is_localisation_metric(name)) {
    const LocalisationParams& l = p.localisation;
    json j = {{"set",
               {{"count", l.set.count},
                {"scale", l.set.scale},
                {"source_images", l.source},
                {"require_correct", l.set.require_correct},
                {"generated", l.generated},
                {"kept", l.kept},
                {"how",
                 "object area-averaged and pasted at a uniform position on an image of "
                 "another class; mask = the box; target = the object's class"}}}};
    if (name == "pointing-game") {
      j["tolerance"] = l.tolerance;
      j["maximum"] = "first in index order; ties counted in 'ties'";
    } else {
      j["sign"] = l.mass_sign;
    }
    return j;
  }
  if (name == "data-randomization") {
    const DataRandomizationParams& d = p.data_randomization;
    json j = {{"train_limit", d.train_limit},
              {"max_epochs", d.max_epochs},
              {"check_every", d.check_every},
              {"min_accuracy", d.min_accuracy},
              {"allow_underfit", d.allow_underfit},
              {"lr", d.lr},
              {"batch_size", d.batch_size},
              {"explained_class", "the trained model's prediction"},
              {"similarities", {"spearman", "spearman_abs", "ssim", "hog"}}};
    j["result"] = d.result;
    return j;
  }
  if (name == "sparseness") return {{"abs", true}, {"normalise", "max"}, {"epsilon", 1e-7}};
  if (name == "complexity") return {{"abs", true}, {"log", "natural"}};
  metric_info(name);
  return json::object();
}

MetricValues run_image_metric(const std::string& name, const MetricContext& ctx, const ImageCase& c,
                              const MetricParams& p) {
  if (!ctx.model) throw std::invalid_argument("run_image_metric: no model");
  if (name == "deletion" || name == "insertion") {
    CurveOptions co;
    co.batch = ctx.batch;
    return curve_values(name == "deletion" ? deletion_curve(*ctx.model, c.x, c.map, c.target, co)
                                           : insertion_curve(*ctx.model, c.x, c.map, c.target, co));
  }
  if (name == "road") return road_values(ctx, c, p);
  if (name == "pixel-flipping" || name == "aopc" || name == "faithfulness-correlation") {
    return perturbation_values(name, ctx, c, p);
  }
  if (name == "infidelity" || name == "max-sensitivity") return robustness_values(name, ctx, c, p);
  MetricValues v;
  if (name == "random-logit") {
    if (!ctx.explain) throw std::invalid_argument("random-logit: no explain function");
    const RandomLogitResult r =
        random_logit(ctx.explain, c.x, c.map, c.target, ctx.classes, ctx.seed,
                     metric_stream(metric_info(name).id, c.index));
    v.scalars["ssim"] = r.ssim;
    return v;
  }
  if (is_localisation_metric(name)) {
    if (!c.mask) throw std::invalid_argument(name + ": no object mask");
    if (name == "pointing-game") {
      const PointingResult r = pointing_game(c.map, *c.mask, p.localisation.tolerance);
      v.scalars["hit"] = r.hit ? 1.0 : 0.0;
      v.scalars["ties"] = static_cast<double>(r.ties);
    } else {
      v.scalars["mass"] = relevance_mass(c.map, *c.mask, parse_mass_sign(p.localisation.mass_sign));
    }
    return v;
  }
  if (name == "sparseness")
    v.scalars["gini"] = sparseness_gini(c.map);
  else if (name == "complexity")
    v.scalars["entropy"] = complexity_entropy(c.map);
  else
    throw std::invalid_argument("run_image_metric: '" + name + "' is not a per-image metric");
  return v;
}

bool is_localisation_metric(const std::string& name) {
  return name == "pointing-game" || name == "relevance-mass";
}

bool is_model_metric(const std::string& name) {
  return name == "mprt-cascading" || name == "mprt-independent";
}

std::vector<std::string> resolve_mprt_layers(Module& model, const Tensor& x, const MprtParams& p) {
  if (p.granularity != "module" && p.granularity != "block") {
    throw std::invalid_argument("--mprt-granularity: '" + p.granularity +
                                "' (known: module, block)");
  }
  std::vector<std::string> layers;
  if (p.order == "trace") {
    layers = execution_order_layers(model, x);
  } else if (p.order == "registration") {
    layers = randomization_layers(model);
  } else {
    throw std::invalid_argument("--mprt-order: '" + p.order + "' (known: trace, registration)");
  }
  return p.granularity == "block" ? block_layers(model, layers) : layers;
}

std::vector<MetricValues> run_model_metric(const std::string& name, Module& model,
                                           const ExplainAll& explain, const MetricParams& p,
                                           uint64_t seed, const Reinitialise& init) {
  if (!is_model_metric(name)) {
    throw std::invalid_argument("run_model_metric: '" + name + "' is not a model metric");
  }
  MprtOptions o;
  o.mode = name == "mprt-cascading" ? MprtMode::Cascading : MprtMode::Independent;
  o.layers = p.mprt.layers;
  o.init = init;
  o.seed = seed;
  o.reset_bn_stats = p.mprt.reset_bn_stats;
  const MprtReport rep = mprt(model, explain, o);
  std::vector<MetricValues> out(rep.original.size());
  for (size_t i = 0; i < out.size(); ++i) {
    MetricValues& v = out[i];
    for (const MprtStep& s : rep.steps) {
      const MapComparison& c = s.comparisons[i];
      v.curves["spearman"].push_back(c.spearman);
      v.curves["spearman_abs"].push_back(c.spearman_abs);
      v.curves["ssim"].push_back(c.ssim);
      if (c.has_hog) v.curves["hog"].push_back(c.hog);
    }
    const bool cascading = o.mode == MprtMode::Cascading;
    for (const auto& [k, curve] : v.curves) {
      if (curve.empty()) continue;
      double mean = 0;
      for (const double e : curve) mean += e;
      mean /= static_cast<double>(curve.size());
      v.scalars[(cascading ? "final_" : "mean_") + k] = cascading ? curve.back() : mean;
    }
  }
  return out;
}

}  // namespace gb::interp::eval
