// Class activation maps: Grad-CAM, Grad-CAM++, Layer-CAM, Score-CAM, Eigen-CAM, Guided
// Grad-CAM, and test-time-augmentation (TTA) smoothing, for any layer of any model by name.
// A layer's output is captured with a forward hook and its gradient with one
// gb::grad(target_score, {activation}) (no parameter .grad is touched); the model runs in eval
// mode and its mode is restored afterwards. Whole batches are explained in one forward and one
// backward; Score-CAM's N*K channel-masked inputs go through interp::forward_streamed in chunks.
// Shape letters: N images, C input channels, H/W input size, K channels of the explained layer,
// h/w its spatial size.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "interp/batch.h"
#include "interp/target.h"
#include "runtime/module.h"

namespace gb::interp {

enum class CamMethod { GradCam, GradCamPlusPlus, LayerCam, ScoreCam, EigenCam };

// "gradcam", "gradcam++", "layercam", "scorecam", "eigencam".
const char* cam_method_name(CamMethod m);
// Accepts the names above (also "gradcampp"). throws: std::invalid_argument listing them.
CamMethod parse_cam_method(const std::string& name);

// How Score-CAM turns the masked inputs' outputs into channel weights.
enum class ScoreCamWeight {
  ProbabilityGain,  // the paper: softmax(f(X * M_k))[c] - softmax(f(X_b))[c], X_b = 0
  ChannelSoftmax,   // softmax over the K channels of the masked inputs' target logits
};

// Test-time augmentation: the method runs on every augmented copy (as one batch), each map is
// mapped back onto the original image and the maps are averaged per pixel over the copies that
// cover the pixel. Shifted copies are filled with 0 (the mean of normalised data).
struct TtaOptions {
  bool enabled = false;
  bool hflip = true;  // adds the horizontally flipped image
  int64_t shift = 2;  // adds copies shifted by +-shift pixels in x and in y; 0: none
};

struct CamOptions {
  CamMethod method = CamMethod::GradCam;  // used by cam(); the named functions ignore it
  std::string layer;                      // module path ("layer3.2"); "": default_cam_layer
  Target target;                          // default: the predicted class
  bool relu = true;                       // ReLU the combined map, as every paper here does
  ScoreCamWeight score_weight = ScoreCamWeight::ProbabilityGain;
  bool eigen_center = false;  // Eigen-CAM: centre the activations before the SVD
  TtaOptions tta;             // used by cam()
  BatchOptions batch;         // Score-CAM's chunked masked forwards
};

struct CamResult {
  Tensor map;                    // [N,1,H,W]: low_res bilinearly upsampled to the input size
  Tensor low_res;                // [N,1,h,w] at the layer's resolution (TTA: the identity copy)
  std::vector<int64_t> classes;  // the explained class of each input
  std::string layer;             // the layer that was explained
};

// What one forward (and optionally one backward) reveals about a layer.
struct LayerCapture {
  std::string layer;             // resolved module path
  Tensor logits;                 // [N,classes], cut from the graph
  Tensor activation;             // [N,K,h,w] output of the layer, cut from the graph
  Tensor gradient;               // d sum_n logits[n, classes[n]] / d activation; or undefined
  std::vector<int64_t> classes;  // resolved target of each input
};

// The layer a CAM explains when none is named: the last module output that is 4-D
// ([N,K,h,w]) in execution order; where a container returns a child's tensor unchanged, the
// innermost module producing it ("layer3.2" rather than "layer3" for ResNets). For transformers
// (token outputs [N,T,D] on a patch grid, interp/tokens.h): the last token output of the
// residual width before the last attention runs (timm's ViT: blocks[-1].norm1).
// requires: x [N,C,H,W]. throws: std::invalid_argument if no module outputs a 4-D tensor.
std::string default_cam_layer(Module& model, const Tensor& x);

// Runs `model` on x [N,C,H,W] (eval mode; the mode is restored) capturing `layer`'s output
// ("" = default_cam_layer). With `with_gradient`, backpropagates the target score to the
// activation. If the layer runs more than once in a forward, the last call is captured. Token
// outputs [N,T,D] come back as channel maps [N,D,g,g] (activation and gradient alike; the class
// token dropped), so every CAM method runs on a transformer's tokens.
// throws: std::invalid_argument for an unknown layer, an output that is neither 4-D nor tokens
// on a grid, or a bad input.
LayerCapture capture_layer(Module& model, const Tensor& x, const std::string& layer,
                           const Target& target, bool with_gradient);

// Grad-CAM (Selvaraju et al. 2017): L = ReLU(sum_k mean_ij(dY/dA_k) A_k).
CamResult grad_cam(Module& model, const Tensor& x, const CamOptions& opt = {});
// Grad-CAM++ (Chattopadhay et al. 2018), closed form for an exponential of the score:
// a_kij = g^2 / (2 g^2 + sum_ab A_kab g^3), w_k = sum_ij a_kij ReLU(g_kij), L = ReLU(sum w_k A_k).
CamResult grad_cam_plus_plus(Module& model, const Tensor& x, const CamOptions& opt = {});
// Layer-CAM (Jiang et al. 2021): L = ReLU(sum_k ReLU(g_k) * A_k), element-wise weights.
CamResult layer_cam(Module& model, const Tensor& x, const CamOptions& opt = {});
// Score-CAM (Wang et al. 2020): each channel upsampled to H x W and min-max normalised to [0,1]
// is a mask M_k; the N*K inputs X * M_k are evaluated in batches (forward_streamed, chunked to
// opt.batch); the weights are opt.score_weight of their outputs; L = ReLU(sum w_k A_k).
// Costs one forward per channel; no gradients.
CamResult score_cam(Module& model, const Tensor& x, const CamOptions& opt = {});
// Eigen-CAM (Muhammad & Yeasin 2020): the projection of the activations (as an hw x K matrix)
// on their first right-singular vector (Eigen), sign chosen so the projection sums to >= 0.
// Class-agnostic: `classes` still reports the predicted/target class.
CamResult eigen_cam(Module& model, const Tensor& x, const CamOptions& opt = {});

// Dispatches on opt.method and applies opt.tta when enabled.
CamResult cam(Module& model, const Tensor& x, const CamOptions& opt);

// Guided Grad-CAM: Guided Backprop's input gradient [N,C,H,W] (ReLU rule Guided) times the
// upsampled Grad-CAM map, from one forward and two backward passes. Returns [N,C,H,W].
Tensor guided_grad_cam(Module& model, const Tensor& x, const CamOptions& opt = {});

}  // namespace gb::interp
