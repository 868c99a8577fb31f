"""The glassbox model zoo (models/*.cpp) written in PyTorch, with glassbox's parameter and buffer
names, so that a state_dict of one of these loads into glassbox unchanged and back
(tools/torch_weights.py), and the PyTorch side of the benchmarks (tools/bench_torch.py).
Architectures as models/README.md and the builders describe them:

- resnet20/32/56 (He et al. CIFAR ResNets, 16/32/64 channels, 3/5/9 blocks per stage) and resnet18
  (3x3 stride-1 stem of 64, no max-pool, 64/128/256/512): conv1 - bn1 - relu, BasicBlocks with
  option-B shortcuts (1x1 conv stride s + BN, `shortcut.0/1`; an empty Sequential otherwise),
  global average pool, fc. No conv bias.
- vgg11/vgg16: torchvision's vgg*_bn feature indices (conv with bias, BN, ReLU, ..., MaxPool2d),
  global average pool, classifier.0 = Linear(512, classes); no hidden FC layers, no dropout.
- smallcnn: features = conv32-BN-ReLU, conv64-BN-ReLU, maxpool2, conv128-BN-ReLU, maxpool2
  (features.0 .. features.10), global average pool, fc. No conv bias.
- inception: kuangliu's GoogLeNet for 32x32 (pre_layers, a3, b3, maxpool1, a4..e4, maxpool2, a5,
  b5, global average pool, linear); every conv has a bias.
- airbench: whiten (2x2 conv with bias, C -> 8C), GELU (exact erf form), three blocks
  [conv3x3 (no bias), maxpool2, BN, GELU, conv3x3, BN, GELU] of 64/256/256, a max pool over the
  remaining 3x3, flatten, fc (no bias), logits times 1/9.
- vit: timm-style pre-norm ViT (models/vit.h): patch_embed.proj (4x4 conv, stride 4, bias) to
  tokens, a zero class-token slot prepended and pos_embed [1, T+1, D] added (pos_embed[0] is the
  class token's vector), blocks.0..5 (norm1, attn.qkv, attn.softmax, attn.proj, norm2, mlp.fc1,
  mlp.act (exact GELU), mlp.fc2; LayerNorm eps 1e-6), norm, head on token 0. D = 4 heads x
  scaled(32, width); MLP hidden 2D.

BatchNorm everywhere is PyTorch's default (eps 1e-5, momentum 0.1). A max-pool that would see a
1x1 map is an Identity, as in glassbox (VGG's fifth pool at 28x28). `width` scales every nominal
channel count K to max(1, round(K * width)) (round half away from zero, as std::lround).
The ReLUs and max-pools go through torch.nn.functional at call time (nn.ReLU, F.relu,
nn.MaxPool2d), so that test_zoo_weights.KinkSwitch can take them over."""
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ZOO = ["resnet20", "resnet32", "resnet56", "resnet18", "vgg11", "vgg16", "smallcnn",
       "inception", "airbench", "vit"]


def scaled(k, width):
    """models/model_config.cpp ChannelPlan::out: max(1, lround(K * width)), width as float."""
    return max(1, int(math.floor(k * float(np.float32(width)) + 0.5)))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride, projection):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if projection:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, stem, stages, blocks, strides, classes, in_channels, width):
        super().__init__()
        c = scaled(stem, width)
        self.conv1 = nn.Conv2d(in_channels, c, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU()
        nominal_c = stem
        for s, (k_nominal, n, stride) in enumerate(zip(stages, blocks, strides)):
            k = scaled(k_nominal, width)
            layer = []
            for b in range(n):
                st = stride if b == 0 else 1
                layer.append(BasicBlock(c, k, st, st != 1 or nominal_c != k_nominal))
                c, nominal_c = k, k_nominal
            setattr(self, f"layer{s + 1}", nn.Sequential(*layer))
        self.num_stages = len(stages)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        for s in range(self.num_stages):
            x = getattr(self, f"layer{s + 1}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def pool_or_identity(hw):
    """(module, new size): a 2x2 max-pool, or Identity where the map is already 1x1."""
    return (nn.MaxPool2d(2, 2), hw // 2) if hw >= 2 else (nn.Identity(), hw)


def conv_stack(config, in_channels, image_size, width, bias):
    """(features, channels out): conv3x3-BN-ReLU per number in `config`, a 2x2 max-pool (or
    Identity on a 1x1 map) per "M", as glassbox's VGG-style builders."""
    layers, c, hw = [], in_channels, image_size
    for v in config:
        if v == "M":
            pool, hw = pool_or_identity(hw)
            layers.append(pool)
            continue
        k = scaled(v, width)
        layers += [nn.Conv2d(c, k, 3, 1, 1, bias=bias), nn.BatchNorm2d(k), nn.ReLU()]
        c = k
    return nn.Sequential(*layers), c


class VGG(nn.Module):
    def __init__(self, config, classes, in_channels, image_size, width):
        super().__init__()
        self.features, c = conv_stack(config, in_channels, image_size, width, bias=True)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(c, classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class SmallCNN(nn.Module):
    def __init__(self, classes, in_channels, image_size, width):
        super().__init__()
        self.features, c = conv_stack((32, 64, "M", 128, "M"), in_channels, image_size, width,
                                      bias=False)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.avgpool(self.features(x)), 1))


def conv_bn_relu(c, k, kernel):
    return [nn.Conv2d(c, k, kernel, 1, kernel // 2, bias=True), nn.BatchNorm2d(k), nn.ReLU()]


class Inception(nn.Module):
    """b1: 1x1; b2: 1x1 reduce, 3x3; b3: 1x1 reduce, 3x3, 3x3; b4: maxpool 3 s1 p1, 1x1."""

    def __init__(self, cin, n1, n3red, n3, n5red, n5mid, n5, pool_proj):
        super().__init__()
        self.b1 = nn.Sequential(*conv_bn_relu(cin, n1, 1))
        self.b2 = nn.Sequential(*conv_bn_relu(cin, n3red, 1), *conv_bn_relu(n3red, n3, 3))
        self.b3 = nn.Sequential(*conv_bn_relu(cin, n5red, 1), *conv_bn_relu(n5red, n5mid, 3),
                                *conv_bn_relu(n5mid, n5, 3))
        self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), *conv_bn_relu(cin, pool_proj, 1))
        self.out_channels = n1 + n3 + n5 + pool_proj

    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)


# models/inception.cpp: 1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5" mid, "5x5", pool proj.
INCEPTION_STAGES = [
    ("a3", (64, 96, 128, 16, 32, 32, 32)),
    ("b3", (128, 128, 192, 32, 96, 96, 64)),
    ("maxpool1", None),
    ("a4", (192, 96, 208, 16, 48, 48, 64)),
    ("b4", (160, 112, 224, 24, 64, 64, 64)),
    ("c4", (128, 128, 256, 24, 64, 64, 64)),
    ("d4", (112, 144, 288, 32, 64, 64, 64)),
    ("e4", (256, 160, 320, 32, 128, 128, 128)),
    ("maxpool2", None),
    ("a5", (256, 160, 320, 32, 128, 128, 128)),
    ("b5", (384, 192, 384, 48, 128, 128, 128)),
]


class GoogLeNet(nn.Module):
    def __init__(self, classes, in_channels, width):
        super().__init__()
        c = scaled(192, width)
        self.pre_layers = nn.Sequential(*conv_bn_relu(in_channels, c, 3))
        self.stages = []
        for name, widths in INCEPTION_STAGES:
            if widths is None:
                setattr(self, name, nn.MaxPool2d(3, 2, 1))
            else:
                block = Inception(c, *(scaled(w, width) for w in widths))
                setattr(self, name, block)
                c = block.out_channels
            self.stages.append(name)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(c, classes)

    def forward(self, x):
        x = self.pre_layers(x)
        for name in self.stages:
            x = getattr(self, name)(x)
        return self.linear(torch.flatten(self.avgpool(x), 1))


class Scale(nn.Module):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


class AirBench(nn.Module):
    def __init__(self, classes, in_channels, image_size, width):
        super().__init__()
        stem = 2 * in_channels * 4
        self.whiten = nn.Conv2d(in_channels, stem, 2, 1, 0, bias=True)
        self.act0 = nn.GELU()
        c, hw = stem, image_size - 1
        for b, w in enumerate((64, 256, 256)):
            k = scaled(w, width)
            pool, hw = pool_or_identity(hw)
            setattr(self, f"block{b + 1}", nn.Sequential(
                nn.Conv2d(c, k, 3, 1, 1, bias=False), pool, nn.BatchNorm2d(k), nn.GELU(),
                nn.Conv2d(k, k, 3, 1, 1, bias=False), nn.BatchNorm2d(k), nn.GELU()))
            c = k
        self.pool = nn.MaxPool2d(hw, hw)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(c, classes, bias=False)
        self.scale = Scale(1.0 / 9.0)

    def forward(self, x):
        x = self.act0(self.whiten(x))
        x = self.block3(self.block2(self.block1(x)))
        return self.scale(self.fc(self.flatten(self.pool(x))))


class Attention(nn.Module):
    """Multi-head self-attention; the softmax is a child so hooks see the attention."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.softmax = nn.Softmax(dim=-1)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        n, t, d = x.shape
        dh = d // self.heads
        qkv = self.qkv(x).reshape(n, t, 3, self.heads, dh).permute(0, 2, 3, 1, 4)
        q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]
        attn = self.softmax((q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(dh)))
        return self.proj((attn @ v).permute(0, 2, 1, 3).reshape(n, t, d))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, hidden)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, in_channels, dim, patch):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, patch, patch, 0, bias=True)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class VisionTransformer(nn.Module):
    def __init__(self, classes, in_channels, image_size, width, patch=4, depth=6, heads=4,
                 mlp_ratio=2):
        super().__init__()
        dim = heads * scaled(32, width)
        tokens = (image_size // patch) ** 2 + 1
        self.patch_embed = PatchEmbed(in_channels, dim, patch)
        self.pos_embed = nn.Parameter(torch.randn(1, tokens, dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads, mlp_ratio * dim) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = F.pad(self.patch_embed(x), (0, 0, 1, 0)) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


def make(name, classes=10, in_channels=3, image_size=32, width=1.0):
    """The zoo model `name` (a fresh PyTorch initialisation)."""
    if name in ("resnet20", "resnet32", "resnet56"):
        n = {"resnet20": 3, "resnet32": 5, "resnet56": 9}[name]
        return ResNet(16, (16, 32, 64), (n, n, n), (1, 2, 2), classes, in_channels, width)
    if name == "resnet18":
        return ResNet(64, (64, 128, 256, 512), (2, 2, 2, 2), (1, 2, 2, 2), classes, in_channels,
                      width)
    if name == "vgg11":
        cfg = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
        return VGG(cfg, classes, in_channels, image_size, width)
    if name == "vgg16":
        cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512,
               "M"]
        return VGG(cfg, classes, in_channels, image_size, width)
    if name == "smallcnn":
        return SmallCNN(classes, in_channels, image_size, width)
    if name == "inception":
        return GoogLeNet(classes, in_channels, width)
    if name == "airbench":
        return AirBench(classes, in_channels, image_size, width)
    if name == "vit":
        return VisionTransformer(classes, in_channels, image_size, width)
    raise KeyError(f"no zoo model '{name}' (known: {', '.join(ZOO)})")


def randomize(model, x, seed=0):
    """Random weights with activations of order one: every conv Kaiming-normal (fan_out, as
    glassbox initialises them) with small random biases; BatchNorm and LayerNorm affine parameters
    random and BatchNorm's running statistics those of the batch `x` perturbed at random (so that
    eval mode keeps activations of order one through deep networks while the statistics are not
    the batch's);
    num_batches_tracked random; the last layer scaled so that the largest |logit| on `x` is 3."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.out_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
                m.weight.normal_(0.0, math.sqrt(2.0 / fan_out), generator=gen)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.1)
            elif isinstance(m, nn.LayerNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
        # Running statistics from the batch (momentum 1), then perturbed.
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        for m in bns:
            m.momentum = 1.0
        model.train()
        model(x)
        for m in bns:
            m.momentum = 0.1
            c = m.num_features
            std = m.running_var.sqrt()
            m.running_mean.add_(torch.randn(c, generator=gen) * 0.2 * std)
            m.running_var.mul_(torch.rand(c, generator=gen) + 0.5)
            m.num_batches_tracked.fill_(int(torch.randint(0, 1000, (1,), generator=gen)))
        model.eval()
        last = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))][-1]
        y = model(x)
        scale = 3.0 / float(y.abs().max())
        last.weight.mul_(scale)
        if last.bias is not None:
            last.bias.mul_(scale)
    return model
