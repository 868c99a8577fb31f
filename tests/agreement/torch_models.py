"""Models of the agreement suites, made in the test with random weights (nothing is downloaded):
torchvision's classifiers with their BatchNorm statistics randomised and the last layer scaled so
that the logits are of order one (random initialisation can leave them near 1e-9, where any
relative bound is meaningless)."""
import torch
import torchvision

# name -> (constructor, the module path whose output Grad-CAM explains, the same in glassbox's
# imported graph: the node path the exporter's scoped names give).
TORCHVISION = {
    "resnet18": (lambda: torchvision.models.resnet18(num_classes=10), "layer4", "layer4.1.relu_1"),
    "googlenet": (lambda: torchvision.models.googlenet(num_classes=10, aux_logits=False,
                                                       init_weights=True), "inception5b",
                  "inception5b"),
    "mobilenet_v2": (lambda: torchvision.models.mobilenet_v2(num_classes=10), "features.18",
                     "features.18.2"),
    "vgg11_bn": (lambda: torchvision.models.vgg11_bn(num_classes=10), "features.27",
                 "features.27"),
    "squeezenet1_1": (lambda: torchvision.models.squeezenet1_1(num_classes=10), "features.12",
                      "features.12"),
    "densenet121": (lambda: torchvision.models.densenet121(num_classes=10),
                    "features.denseblock4", "features.denseblock4"),
}


def randomize_batchnorm(model, gen):
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            m.weight.data = torch.rand(c, generator=gen) + 0.5
            m.bias.data = torch.randn(c, generator=gen) * 0.1
            m.running_mean = torch.randn(c, generator=gen) * 0.1
            m.running_var = torch.rand(c, generator=gen) + 0.5


def last_layer(model):
    layers = [m for m in model.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
    return layers[-1]


def make(name, seed=0):
    """The model in eval mode, its weights random but the logits of order one at 224x224."""
    torch.manual_seed(seed)
    ctor = TORCHVISION[name][0]
    model = ctor().eval()
    gen = torch.Generator().manual_seed(seed + 1)
    randomize_batchnorm(model, gen)
    with torch.no_grad():
        y = model(torch.randn(2, 3, 224, 224, generator=gen))
        scale = 3.0 / float(y.abs().max())
        last = last_layer(model)
        last.weight.mul_(scale)
        if last.bias is not None:
            last.bias.mul_(scale)
    return model


def find_module(model, path):
    m = model
    for part in path.split("."):
        m = getattr(m, part) if not part.isdigit() else m[int(part)]
    return m


def grad_cam_low_res(model, x, layer, target=None):
    """Grad-CAM at the layer's resolution: relu(sum_k mean_hw(dy_t/dA_k) A_k), [N,1,h,w], for
    class `target` or (None) each input's predicted class."""
    store = {}

    def hook(_m, _i, out):
        store["a"] = out
        out.register_hook(lambda g: store.__setitem__("g", g))

    handle = find_module(model, layer).register_forward_hook(hook)
    try:
        y = model(x)
        t = y.argmax(dim=1) if target is None else torch.full((y.shape[0],), target)
        y.gather(1, t[:, None]).sum().backward()
    finally:
        handle.remove()
    a, g = store["a"].detach(), store["g"].detach()
    w = g.mean(dim=(2, 3), keepdim=True)
    return torch.relu((w * a).sum(dim=1, keepdim=True))


class _KinkRecorder:
    """While active, torch's relu, hardtanh (ReLU6) and max_pool2d record, next to their result,
    the input elements at or near a point where the function is not differentiable: a
    pre-activation within `tau` of a kink, or the candidates of a pooling window whose two largest
    values are within `tau` (relative to the largest magnitude of the op's input)."""

    def __init__(self, tau):
        self.tau, self.terms, self.saved = tau, [], {}

    def __enter__(self):
        F = torch.nn.functional
        self.saved = {"relu": F.relu, "hardtanh": F.hardtanh, "max_pool2d": F.max_pool2d}
        rec = self

        def relu(x, inplace=False):
            rec.add(x, x.detach().abs() <= rec.tau * rec.scale(x))
            return rec.saved["relu"](x)

        def hardtanh(x, min_val=-1.0, max_val=1.0, inplace=False):
            d = x.detach()
            t = rec.tau * rec.scale(x)
            rec.add(x, ((d - min_val).abs() <= t) | ((d - max_val).abs() <= t))
            return rec.saved["hardtanh"](x, min_val, max_val)

        def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                       return_indices=False):
            rec.add(x, rec.pool_candidates(x, kernel_size, stride or kernel_size, padding,
                                           ceil_mode))
            return rec.saved["max_pool2d"](x, kernel_size, stride, padding, dilation, ceil_mode,
                                           return_indices)

        F.relu, F.hardtanh, F.max_pool2d = relu, hardtanh, max_pool2d
        return self

    def __exit__(self, *exc):
        F = torch.nn.functional
        F.relu, F.hardtanh, F.max_pool2d = (self.saved["relu"], self.saved["hardtanh"],
                                            self.saved["max_pool2d"])

    @staticmethod
    def scale(x):
        return float(x.detach().abs().max()) or 1.0

    def add(self, x, mask):
        if mask.any():
            self.terms.append((x * mask).abs().sum())

    def pool_candidates(self, x, k, s, p, ceil_mode):
        k = k if isinstance(k, int) else k[0]
        s = s if isinstance(s, int) else s[0]
        p = p if isinstance(p, int) else p[0]
        n, c, h, w = x.shape
        d = x.detach().reshape(n * c, 1, h, w)
        extra = s if ceil_mode else 0
        padded = torch.nn.functional.pad(d, (p, p + extra, p, p + extra), value=-float("inf"))
        cols = torch.nn.functional.unfold(padded, k, stride=s)  # [NC, k*k, L]
        best = cols.max(dim=1, keepdim=True).values
        near = (best - cols <= self.tau * self.scale(x)) & torch.isfinite(cols)
        ambiguous = near.sum(dim=1, keepdim=True) > 1
        marks = (near & ambiguous).float()
        size = padded.shape[2:]
        folded = torch.nn.functional.fold(marks, size, k, stride=s)
        return (folded[:, :, p:p + h, p:p + w] > 0).reshape(n, c, h, w)


def kink_footprint(model, x, tau=1e-6):
    """Input pixels whose gradient passes through a point where the network is not
    differentiable, or nearly so: a ReLU / ReLU6 input within tau of its kink or a max-pool window
    with a near tie (tau relative to the largest magnitude of that op's input). There, rounding
    differences of 1e-7 between two correct implementations pick different sides of the kink and
    the gradient changes locally by a finite amount: such pixels are reported apart. Returns a
    bool array of x's shape: where the gradient of any such element reaches the input."""
    with _KinkRecorder(tau) as rec:
        xg = x.clone().requires_grad_(True)
        model(xg)
    if not rec.terms:
        return torch.zeros_like(x, dtype=torch.bool).numpy()
    (g,) = torch.autograd.grad(sum(rec.terms), xg)
    return (g.abs() > 0).numpy()
