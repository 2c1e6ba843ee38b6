"""A zoo of networks as people publish them, each written here from scratch after reading a
public implementation, reproducing its structure and its idioms (no code copied). The comment
above each names the design it mirrors; `test_zoo.py` holds the hand-derived depth and dashed
shortcut count of each.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def conv3x3(cin, cout, stride=1, groups=1, bias=False):
    return nn.Conv2d(cin, cout, 3, stride, 1, groups=groups, bias=bias)


def conv1x1(cin, cout, stride=1, bias=False):
    return nn.Conv2d(cin, cout, 1, stride, bias=bias)


# ===== kuangliu/pytorch-cifar =====================================================================


class KLBasic(nn.Module):
    """kuangliu's BasicBlock: `shortcut` an empty Sequential or conv+bn, F.relu everywhere."""

    expansion = 1

    def __init__(self, cin, planes, stride=1):
        super().__init__()
        self.conv1, self.bn1 = conv3x3(cin, planes, stride), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = conv3x3(planes, planes), nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != planes:
            self.shortcut = nn.Sequential(conv1x1(cin, planes, stride), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return F.relu(out)


class KLBottleneck(nn.Module):
    """kuangliu's Bottleneck (expansion 4, stride on the 3x3)."""

    expansion = 4

    def __init__(self, cin, planes, stride=1):
        super().__init__()
        out = planes * 4
        self.conv1, self.bn1 = conv1x1(cin, planes), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = conv3x3(planes, planes, stride), nn.BatchNorm2d(planes)
        self.conv3, self.bn3 = conv1x1(planes, out), nn.BatchNorm2d(out)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != out:
            self.shortcut = nn.Sequential(conv1x1(cin, out, stride), nn.BatchNorm2d(out))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


class KLPreActBlock(nn.Module):
    """kuangliu's PreActBlock: the projection reads the pre-activated input."""

    expansion = 1

    def __init__(self, cin, planes, stride=1):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), conv3x3(cin, planes, stride)
        self.bn2, self.conv2 = nn.BatchNorm2d(planes), conv3x3(planes, planes)
        if stride != 1 or cin != planes:
            self.shortcut = nn.Sequential(conv1x1(cin, planes, stride))

    def forward(self, x):
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if hasattr(self, "shortcut") else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class KLSEPreActBlock(KLPreActBlock):
    """kuangliu's SENet18 block: pre-activation, SE written with two biased 1x1 convs."""

    def __init__(self, cin, planes, stride=1):
        super().__init__(cin, planes, stride)
        self.fc1 = nn.Conv2d(planes, planes // 16, kernel_size=1)
        self.fc2 = nn.Conv2d(planes // 16, planes, kernel_size=1)

    def forward(self, x):
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if hasattr(self, "shortcut") else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        w = F.avg_pool2d(out, out.size(2))
        w = F.relu(self.fc1(w))
        w = torch.sigmoid(self.fc2(w))
        out = out * w
        return out + shortcut


class KLResNet(nn.Module):
    """kuangliu's ResNet: CIFAR stem (3x3, 64), four `_make_layer` stages, avg_pool2d(out, 4)."""

    def __init__(self, block, num_blocks, num_classes=10):
        super().__init__()
        self.in_planes = 64
        self.conv1, self.bn1 = conv3x3(3, 64), nn.BatchNorm2d(64)
        self.preact = block in (KLPreActBlock, KLSEPreActBlock)
        self.layer1 = self._make_layer(block, 64, num_blocks[0], 1)
        self.layer2 = self._make_layer(block, 128, num_blocks[1], 2)
        self.layer3 = self._make_layer(block, 256, num_blocks[2], 2)
        self.layer4 = self._make_layer(block, 512, num_blocks[3], 2)
        self.linear = nn.Linear(512 * block.expansion, num_classes)

    def _make_layer(self, block, planes, count, stride):
        layers = []
        for s in [stride] + [1] * (count - 1):
            layers.append(block(self.in_planes, planes, s))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x):
        out = self.conv1(x) if self.preact else F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.avg_pool2d(out, 4)
        return self.linear(out.view(out.size(0), -1))


def kuangliu_resnet18():
    return KLResNet(KLBasic, [2, 2, 2, 2])


def kuangliu_resnet50():
    return KLResNet(KLBottleneck, [3, 4, 6, 3])


def kuangliu_preact_resnet18():
    """No BN before the pool: one BN fewer than the paper's pre-activation ResNet."""
    model = KLResNet(KLPreActBlock, [2, 2, 2, 2])
    del model.bn1
    return model


def kuangliu_senet18():
    model = KLResNet(KLSEPreActBlock, [2, 2, 2, 2])
    del model.bn1
    return model


class KLResNeXtBlock(nn.Module):
    """kuangliu's ResNeXt block: group width = cardinality x bottleneck width, expansion 2."""

    def __init__(self, cin, cardinality, width, stride):
        super().__init__()
        group = cardinality * width
        self.conv1, self.bn1 = conv1x1(cin, group), nn.BatchNorm2d(group)
        self.conv2, self.bn2 = conv3x3(group, group, stride, cardinality), nn.BatchNorm2d(group)
        self.conv3, self.bn3 = conv1x1(group, 2 * group), nn.BatchNorm2d(2 * group)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != 2 * group:
            self.shortcut = nn.Sequential(conv1x1(cin, 2 * group, stride),
                                          nn.BatchNorm2d(2 * group))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


class KLResNeXt29(nn.Module):
    """kuangliu's ResNeXt29_2x64d: 1x1 stem conv of 64, three stages of three blocks."""

    def __init__(self, cardinality=2, width=64):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 64, 1, bias=False), nn.BatchNorm2d(64)
        self.in_planes, layers = 64, []
        for stride in (1, 2, 2):
            blocks = []
            for s in (stride, 1, 1):
                blocks.append(KLResNeXtBlock(self.in_planes, cardinality, width, s))
                self.in_planes = 2 * cardinality * width
            layers.append(nn.Sequential(*blocks))
            width *= 2
        self.layer1, self.layer2, self.layer3 = layers
        self.linear = nn.Linear(self.in_planes, 10)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.avg_pool2d(out, 8)
        return self.linear(out.view(out.size(0), -1))


class KLDPNBlock(nn.Module):
    """kuangliu's DPN bottleneck: a residual part summed and a dense part concatenated."""

    def __init__(self, last, mid, out, dense, stride, first):
        super().__init__()
        self.out_planes = out
        self.conv1, self.bn1 = conv1x1(last, mid), nn.BatchNorm2d(mid)
        self.conv2, self.bn2 = conv3x3(mid, mid, stride, groups=32), nn.BatchNorm2d(mid)
        self.conv3, self.bn3 = conv1x1(mid, out + dense), nn.BatchNorm2d(out + dense)
        self.shortcut = nn.Sequential()
        if first:
            self.shortcut = nn.Sequential(conv1x1(last, out + dense, stride),
                                          nn.BatchNorm2d(out + dense))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        x = self.shortcut(x)
        d = self.out_planes
        out = torch.cat([x[:, :d, :, :] + out[:, :d, :, :], x[:, d:, :, :], out[:, d:, :, :]], 1)
        return F.relu(out)


class KLDPN26(nn.Module):
    """kuangliu's DPN26: two blocks in each of four stages."""

    def __init__(self):
        super().__init__()
        mids, outs, dense = (96, 192, 384, 768), (256, 512, 1024, 2048), (16, 32, 24, 128)
        self.conv1, self.bn1 = conv3x3(3, 64), nn.BatchNorm2d(64)
        last, stages = 64, []
        for i, stride in enumerate((1, 2, 2, 2)):
            blocks = []
            for j, s in enumerate((stride, 1)):
                blocks.append(KLDPNBlock(last, mids[i], outs[i], dense[i], s, j == 0))
                last = outs[i] + (j + 2) * dense[i]
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.linear = nn.Linear(last, 10)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.avg_pool2d(out, 4)
        return self.linear(out.view(out.size(0), -1))


class KLInverted(nn.Module):
    """kuangliu's MobileNetV2 block: expand, depthwise, project; a sum when stride is 1."""

    def __init__(self, cin, cout, expansion, stride):
        super().__init__()
        self.stride = stride
        hidden = expansion * cin
        self.conv1, self.bn1 = conv1x1(cin, hidden), nn.BatchNorm2d(hidden)
        self.conv2 = nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False)
        self.bn2 = nn.BatchNorm2d(hidden)
        self.conv3, self.bn3 = conv1x1(hidden, cout), nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride == 1 and cin != cout:
            self.shortcut = nn.Sequential(conv1x1(cin, cout), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return out + self.shortcut(x) if self.stride == 1 else out


class KLMobileNetV2(nn.Module):
    """kuangliu's MobileNetV2 for CIFAR, shortened: a `cfg` list of (expansion, out, n, stride)."""

    cfg = [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 2, 2)]

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = conv3x3(3, 32), nn.BatchNorm2d(32)
        layers, cin = [], 32
        for expansion, cout, n, stride in self.cfg:
            for s in [stride] + [1] * (n - 1):
                layers.append(KLInverted(cin, cout, expansion, s))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.conv2, self.bn2 = conv1x1(cin, 320), nn.BatchNorm2d(320)
        self.linear = nn.Linear(320, 10)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(self.layers(out))))
        out = F.avg_pool2d(out, 8)
        return self.linear(out.view(out.size(0), -1))


class KLDenseLayer(nn.Module):
    def __init__(self, cin, growth):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), conv1x1(cin, 4 * growth)
        self.bn2, self.conv2 = nn.BatchNorm2d(4 * growth), conv3x3(4 * growth, growth)

    def forward(self, x):
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(F.relu(self.bn2(out)))
        return torch.cat([out, x], 1)


class KLDenseNet(nn.Module):
    """kuangliu's densenet_cifar, shortened: dense layers concatenate, transitions pool."""

    def __init__(self, growth=12):
        super().__init__()
        self.conv1 = conv3x3(3, 2 * growth)
        cin, stages = 2 * growth, []
        for index in range(2):
            layers = []
            for _ in range(3):
                layers.append(KLDenseLayer(cin, growth))
                cin += growth
            stages.append(nn.Sequential(*layers))
            if index == 0:
                stages.append(nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(), conv1x1(cin, cin // 2),
                                            nn.AvgPool2d(2)))
                cin //= 2
        self.features = nn.Sequential(*stages)
        self.bn, self.linear = nn.BatchNorm2d(cin), nn.Linear(cin, 10)

    def forward(self, x):
        out = F.relu(self.bn(self.features(self.conv1(x))))
        out = F.adaptive_avg_pool2d(out, 1)
        return self.linear(out.view(out.size(0), -1))


class KLRegSE(nn.Module):
    """kuangliu's RegNet SE: 1x1 convs with biases, `.sigmoid()` as a method."""

    def __init__(self, planes, se_planes):
        super().__init__()
        self.se1 = nn.Conv2d(planes, se_planes, 1, bias=True)
        self.se2 = nn.Conv2d(se_planes, planes, 1, bias=True)

    def forward(self, x):
        out = F.relu(self.se1(F.adaptive_avg_pool2d(x, (1, 1))))
        return x * self.se2(out).sigmoid()


class KLRegBlock(nn.Module):
    """kuangliu's RegNet Block: bottleneck ratio 1, grouped 3x3 of `group_width`, SE on the
    block's input width x se_ratio."""

    def __init__(self, w_in, w_out, stride, group_width, se_ratio):
        super().__init__()
        self.conv1, self.bn1 = conv1x1(w_in, w_out), nn.BatchNorm2d(w_out)
        self.conv2 = conv3x3(w_out, w_out, stride, w_out // group_width)
        self.bn2 = nn.BatchNorm2d(w_out)
        self.with_se = se_ratio > 0
        if self.with_se:
            self.se = KLRegSE(w_out, int(round(w_in * se_ratio)))
        self.conv3, self.bn3 = conv1x1(w_out, w_out), nn.BatchNorm2d(w_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or w_in != w_out:
            self.shortcut = nn.Sequential(conv1x1(w_in, w_out, stride), nn.BatchNorm2d(w_out))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        if self.with_se:
            out = self.se(out)
        out = self.bn3(self.conv3(out))
        out += self.shortcut(x)
        return F.relu(out)


class KLRegNet(nn.Module):
    """kuangliu's RegNetY_400MF: the design kept in a `cfg` dict that `_make_layer` reads."""

    def __init__(self):
        super().__init__()
        self.cfg = {"depths": [1, 2, 7, 12], "widths": [48, 104, 208, 440],
                    "strides": [1, 1, 2, 2], "group_width": 8, "se_ratio": 0.25}
        self.in_planes = 64
        self.conv1, self.bn1 = conv3x3(3, 64), nn.BatchNorm2d(64)
        self.layer1, self.layer2, self.layer3, self.layer4 = (self._make_layer(i)
                                                              for i in range(4))
        self.linear = nn.Linear(self.cfg["widths"][-1], 10)

    def _make_layer(self, idx):
        layers = []
        for i in range(self.cfg["depths"][idx]):
            layers.append(KLRegBlock(self.in_planes, self.cfg["widths"][idx],
                                     self.cfg["strides"][idx] if i == 0 else 1,
                                     self.cfg["group_width"], self.cfg["se_ratio"]))
            self.in_planes = self.cfg["widths"][idx]
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.adaptive_avg_pool2d(out, (1, 1))
        return self.linear(out.view(out.size(0), -1))


# ===== akamaster/pytorch_resnet_cifar10 ==========================================================


class AkaLambda(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class AkaBlock(nn.Module):
    """akamaster's BasicBlock with option A: a lambda that subsamples and pads channels."""

    def __init__(self, cin, planes, stride=1):
        super().__init__()
        self.conv1, self.bn1 = conv3x3(cin, planes, stride), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = conv3x3(planes, planes), nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != planes:
            self.shortcut = AkaLambda(lambda x: F.pad(
                x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4), "constant", 0))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return F.relu(out)


class AkaResNet(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.in_planes = 16
        self.conv1, self.bn1 = conv3x3(3, 16), nn.BatchNorm2d(16)
        self.layer1 = self._make_layer(16, n, 1)
        self.layer2 = self._make_layer(32, n, 2)
        self.layer3 = self._make_layer(64, n, 2)
        self.linear = nn.Linear(64, 10)

    def _make_layer(self, planes, n, stride):
        layers = []
        for s in [stride] + [1] * (n - 1):
            layers.append(AkaBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.avg_pool2d(out, out.size()[3])
        return self.linear(out.view(out.size(0), -1))


def akamaster_resnet20():
    return AkaResNet(3)


def akamaster_resnet56():
    return AkaResNet(9)


# ===== weiaicunzai/pytorch-cifar100 ==============================================================


class WeiBasic(nn.Module):
    """weiaicunzai's BasicBlock: a `residual_function` Sequential, and `nn.ReLU(inplace=True)`
    built inside forward."""

    expansion = 1

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.residual_function = nn.Sequential(
            conv3x3(cin, cout, stride), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            conv3x3(cout, cout), nn.BatchNorm2d(cout))
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(conv1x1(cin, cout, stride), nn.BatchNorm2d(cout))

    def forward(self, x):
        return nn.ReLU(inplace=True)(self.residual_function(x) + self.shortcut(x))


class WeiStochasticBlock(WeiBasic):
    """weiaicunzai's stochastic-depth block: in training the branch is dropped at random; in
    evaluation it is scaled by its survival probability."""

    def __init__(self, cin, cout, stride=1, survival=0.8):
        super().__init__(cin, cout, stride)
        self.p = survival

    def forward(self, x):
        if self.training:
            if torch.rand(1).item() < self.p:
                return F.relu(self.residual_function(x) + self.shortcut(x))
            return F.relu(self.shortcut(x))
        return F.relu(self.residual_function(x) * self.p + self.shortcut(x))


class WeiResNet(nn.Module):
    """weiaicunzai's ResNet for CIFAR-100: conv1 a Sequential (conv, BN, ReLU), conv2_x..."""

    def __init__(self, block=WeiBasic, counts=(2, 2, 2, 2)):
        super().__init__()
        self.in_channels = 64
        self.conv1 = nn.Sequential(conv3x3(3, 64), nn.BatchNorm2d(64), nn.ReLU(inplace=True))
        self.conv2_x = self._make_layer(block, 64, counts[0], 1)
        self.conv3_x = self._make_layer(block, 128, counts[1], 2)
        self.conv4_x = self._make_layer(block, 256, counts[2], 2)
        self.conv5_x = self._make_layer(block, 512, counts[3], 2)
        self.avg_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, 100)

    def _make_layer(self, block, channels, count, stride):
        layers = []
        for s in [stride] + [1] * (count - 1):
            layers.append(block(self.in_channels, channels, s))
            self.in_channels = channels
        return nn.Sequential(*layers)

    def forward(self, x):
        output = self.conv1(x)
        output = self.conv5_x(self.conv4_x(self.conv3_x(self.conv2_x(output))))
        output = self.avg_pool(output)
        return self.fc(output.view(output.size(0), -1))


def weiaicunzai_resnet18():
    return WeiResNet()


def weiaicunzai_stochastic_depth18():
    return WeiResNet(WeiStochasticBlock)


class WeiSEBasic(nn.Module):
    """weiaicunzai's BasicResidualSEBlock: biased convs, a ReLU ending the residual, SE with
    Linear layers (r = 16), `residual * excitation.expand_as(residual) + shortcut`."""

    def __init__(self, cin, cout, stride=1, r=16):
        super().__init__()
        self.residual = nn.Sequential(
            conv3x3(cin, cout, stride, bias=True), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            conv3x3(cout, cout, bias=True), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride),
                                          nn.BatchNorm2d(cout))
        self.squeeze = nn.AdaptiveAvgPool2d(1)
        self.excitation = nn.Sequential(nn.Linear(cout, cout // r), nn.ReLU(inplace=True),
                                        nn.Linear(cout // r, cout), nn.Sigmoid())

    def forward(self, x):
        shortcut = self.shortcut(x)
        residual = self.residual(x)
        squeeze = self.squeeze(residual).view(residual.size(0), -1)
        excitation = self.excitation(squeeze).view(residual.size(0), residual.size(1), 1, 1)
        return F.relu(residual * excitation.expand_as(residual) + shortcut)


def weiaicunzai_seresnet18():
    return WeiResNet(WeiSEBasic)


class WeiWideBasic(nn.Module):
    """weiaicunzai's WideBasic: pre-activation, dropout between the convs."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.residual = nn.Sequential(
            nn.BatchNorm2d(cin), nn.ReLU(inplace=True), conv3x3(cin, cout, stride, bias=True),
            nn.BatchNorm2d(cout), nn.ReLU(inplace=True), nn.Dropout(),
            conv3x3(cout, cout, bias=True))
        self.shortcut = nn.Sequential()
        if cin != cout or stride != 1:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride))

    def forward(self, x):
        return self.residual(x) + self.shortcut(x)


class WeiWideResNet(nn.Module):
    """weiaicunzai's wideresnet(depth, widen_factor), built here as WRN-16-4."""

    def __init__(self, depth=16, k=4):
        super().__init__()
        n = (depth - 4) // 6
        self.init_conv = conv3x3(3, 16, bias=True)
        cin, stages = 16, []
        for width, stride in ((16 * k, 1), (32 * k, 2), (64 * k, 2)):
            blocks = []
            for s in [stride] + [1] * (n - 1):
                blocks.append(WeiWideBasic(cin, width, s))
                cin = width
            stages.append(nn.Sequential(*blocks))
        self.conv2, self.conv3, self.conv4 = stages
        self.bn, self.relu = nn.BatchNorm2d(cin), nn.ReLU(inplace=True)
        self.avg_pool, self.linear = nn.AdaptiveAvgPool2d((1, 1)), nn.Linear(cin, 100)

    def forward(self, x):
        x = self.conv4(self.conv3(self.conv2(self.init_conv(x))))
        x = self.avg_pool(self.relu(self.bn(x)))
        return self.linear(x.view(x.size(0), -1))


# ===== xternalz/WideResNet-pytorch and szagoruyko/wide-residual-networks ========================


class XtBlock(nn.Module):
    """xternalz's BasicBlock: `equalInOut` decides whether the projection reads the
    pre-activated input; dropout between the convs."""

    def __init__(self, cin, cout, stride, drop):
        super().__init__()
        self.bn1, self.relu1 = nn.BatchNorm2d(cin), nn.ReLU(inplace=True)
        self.conv1 = conv3x3(cin, cout, stride)
        self.bn2, self.relu2 = nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
        self.conv2 = conv3x3(cout, cout)
        self.droprate = drop
        self.equalInOut = cin == cout
        self.convShortcut = None if self.equalInOut else conv1x1(cin, cout, stride)

    def forward(self, x):
        if not self.equalInOut:
            x = self.relu1(self.bn1(x))
        else:
            out = self.relu1(self.bn1(x))
        out = self.relu2(self.bn2(self.conv1(out if self.equalInOut else x)))
        if self.droprate > 0:
            out = F.dropout(out, p=self.droprate, training=self.training)
        out = self.conv2(out)
        return torch.add(x if self.equalInOut else self.convShortcut(x), out)


class XtWideResNet(nn.Module):
    """xternalz's WideResNet(depth=28, widen_factor=10): NetworkBlocks of `nb_layers`."""

    def __init__(self, depth=28, widen=10, classes=10, drop=0.3):
        super().__init__()
        channels = [16, 16 * widen, 32 * widen, 64 * widen]
        n = (depth - 4) // 6
        self.conv1 = conv3x3(3, channels[0])
        groups = []
        for i, stride in enumerate((1, 2, 2)):
            groups.append(nn.Sequential(*[
                XtBlock(channels[i] if j == 0 else channels[i + 1], channels[i + 1],
                        stride if j == 0 else 1, drop) for j in range(n)]))
        self.block1, self.block2, self.block3 = groups
        self.bn1, self.relu = nn.BatchNorm2d(channels[3]), nn.ReLU(inplace=True)
        self.fc = nn.Linear(channels[3], classes)
        self.nChannels = channels[3]

    def forward(self, x):
        out = self.block3(self.block2(self.block1(self.conv1(x))))
        out = F.avg_pool2d(self.relu(self.bn1(out)), 8)
        return self.fc(out.view(-1, self.nChannels))


class FunctionalWRN(nn.Module):
    """szagoruyko's functional WRN: every weight a tensor looked up by a dotted name (kept in a
    list here), convs through F.conv2d, norms through F.batch_norm; WRN-16-2."""

    def __init__(self, depth=16, width=2, classes=10):
        super().__init__()
        n = (depth - 4) // 6
        widths = [16 * width, 32 * width, 64 * width]
        shapes: dict[str, tuple] = {"conv0": (16, 3, 3, 3)}
        cin = 16
        for g, cout in enumerate(widths):
            for b in range(n):
                base, ni = f"group{g}.block{b}", cin if b == 0 else cout
                shapes[f"{base}.bn0.weight"] = shapes[f"{base}.bn0.bias"] = (ni,)
                shapes[f"{base}.conv0"] = (cout, ni, 3, 3)
                shapes[f"{base}.bn1.weight"] = shapes[f"{base}.bn1.bias"] = (cout,)
                shapes[f"{base}.conv1"] = (cout, cout, 3, 3)
                if ni != cout:
                    shapes[f"{base}.convdim"] = (cout, ni, 1, 1)
            cin = cout
        shapes["bn.weight"] = shapes["bn.bias"] = (cin,)
        shapes["fc.weight"], shapes["fc.bias"] = (classes, cin), (classes,)
        self.names = list(shapes)
        self.weights = nn.ParameterList(nn.Parameter(torch.randn(s) * 0.1) for s in shapes.values())
        self.n = n

    def forward(self, x):
        p = dict(zip(self.names, self.weights))

        def bn(t, base):
            return F.batch_norm(t, None, None, p[base + ".weight"], p[base + ".bias"], True)

        def block(t, base, stride):
            o1 = F.relu(bn(t, base + ".bn0"))
            y = F.conv2d(o1, p[base + ".conv0"], stride=stride, padding=1)
            o2 = F.relu(bn(y, base + ".bn1"))
            z = F.conv2d(o2, p[base + ".conv1"], stride=1, padding=1)
            if base + ".convdim" in p:
                return z + F.conv2d(o1, p[base + ".convdim"], stride=stride)
            return z + t

        o = F.conv2d(x, p["conv0"], padding=1)
        for g, stride in enumerate((1, 2, 2)):
            for b in range(self.n):
                o = block(o, f"group{g}.block{b}", stride if b == 0 else 1)
        o = F.relu(bn(o, "bn"))
        o = F.avg_pool2d(o, 8, 1, 0)
        return F.linear(o.view(o.size(0), -1), p["fc.weight"], p["fc.bias"])


# ===== moskomule/senet.pytorch ===================================================================


class SELayer(nn.Module):
    """moskomule's SELayer: adaptive pool, Linear-ReLU-Linear-Sigmoid, `x * y.expand_as(x)`."""

    def __init__(self, channel, reduction=16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Linear(channel, channel // reduction, bias=False),
                                nn.ReLU(inplace=True),
                                nn.Linear(channel // reduction, channel, bias=False), nn.Sigmoid())

    def forward(self, x):
        b, c, _, _ = x.size()
        y = self.avg_pool(x).view(b, c)
        y = self.fc(y).view(b, c, 1, 1)
        return x * y.expand_as(x)


class SEBottleneck(nn.Module):
    """moskomule's SEBottleneck: the SE layer after bn3, torchvision's `downsample`."""

    expansion = 4

    def __init__(self, cin, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1, self.bn1 = conv1x1(cin, planes), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = conv3x3(planes, planes, stride), nn.BatchNorm2d(planes)
        self.conv3, self.bn3 = conv1x1(planes, planes * 4), nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.se = SELayer(planes * 4)
        self.downsample = downsample

    def forward(self, x):
        residual = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.se(self.bn3(self.conv3(out)))
        if self.downsample is not None:
            residual = self.downsample(x)
        return self.relu(out + residual)


class TVBasic(nn.Module):
    """torchvision's BasicBlock: `downsample` None or conv+bn, one ReLU module reused."""

    expansion = 1

    def __init__(self, cin, planes, stride=1, downsample=None, groups=1, base_width=64):
        super().__init__()
        self.conv1, self.bn1 = conv3x3(cin, planes, stride), nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2, self.bn2 = conv3x3(planes, planes), nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class TVBottleneck(nn.Module):
    """torchvision's Bottleneck (v1.5): width = planes * base_width / 64 * groups."""

    expansion = 4

    def __init__(self, cin, planes, stride=1, downsample=None, groups=1, base_width=64):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1, self.bn1 = conv1x1(cin, width), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = conv3x3(width, width, stride, groups), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = conv1x1(width, planes * 4), nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class TVResNet(nn.Module):
    """torchvision's ResNet: 7x7/2 stem, max-pool, `_make_layer`, avgpool, `torch.flatten`.
    `stem` and `downsample` let timm's variants (deep stem, avg-down) share it."""

    def __init__(self, block, layers, groups=1, width_per_group=64, classes=1000,
                 stem=None, avg_down=False, stem_out=64):
        super().__init__()
        self.inplanes, self.groups, self.base_width = stem_out, groups, width_per_group
        self.avg_down = avg_down
        if stem is None:
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        else:
            self.conv1 = stem
        self.bn1, self.relu = nn.BatchNorm2d(stem_out), nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], 2)
        self.layer3 = self._make_layer(block, 256, layers[2], 2)
        self.layer4 = self._make_layer(block, 512, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, classes)

    def _downsample(self, planes_out, stride):
        if self.avg_down:  # timm's avg-down: pool (Identity at stride 1), then a 1x1 conv
            pool = nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False) \
                if stride > 1 else nn.Identity()
            return nn.Sequential(pool, conv1x1(self.inplanes, planes_out),
                                 nn.BatchNorm2d(planes_out))
        return nn.Sequential(conv1x1(self.inplanes, planes_out, stride),
                             nn.BatchNorm2d(planes_out))

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = self._downsample(planes * block.expansion, stride)
        layers = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, groups=self.groups,
                                base_width=self.base_width))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def moskomule_se_resnet50():
    def se_block(cin, planes, stride=1, downsample=None, groups=1, base_width=64):
        return SEBottleneck(cin, planes, stride, downsample)

    se_block.expansion = 4
    return TVResNet(se_block, [3, 4, 6, 3])


class CifarSEBlock(nn.Module):
    """moskomule's CifarSEBasicBlock: SE (reduction 16) after bn2, conv+bn downsample."""

    def __init__(self, cin, planes, stride=1):
        super().__init__()
        self.conv1, self.bn1 = conv3x3(cin, planes, stride), nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2, self.bn2 = conv3x3(planes, planes), nn.BatchNorm2d(planes)
        self.se = SELayer(planes, 16)
        self.downsample = None
        if cin != planes:
            self.downsample = nn.Sequential(conv1x1(cin, planes, stride), nn.BatchNorm2d(planes))

    def forward(self, x):
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.se(self.bn2(self.conv2(out)))
        return self.relu(out + residual)


class CifarSEResNet(nn.Module):
    """moskomule's CifarSEResNet(n_size=3): se_resnet20, 16/32/64 channels."""

    def __init__(self, n=3):
        super().__init__()
        self.conv1, self.bn1 = conv3x3(3, 16), nn.BatchNorm2d(16)
        self.relu, self.inplane = nn.ReLU(inplace=True), 16
        self.layer1 = self._make(16, n, 1)
        self.layer2 = self._make(32, n, 2)
        self.layer3 = self._make(64, n, 2)
        self.avgpool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(64, 10)

    def _make(self, planes, n, stride):
        layers = []
        for s in [stride] + [1] * (n - 1):
            layers.append(CifarSEBlock(self.inplane, planes, s))
            self.inplane = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.avgpool(x).view(x.size(0), -1))


# ===== torchvision and timm's ResNet family ======================================================


def torchvision_resnet18():
    return TVResNet(TVBasic, [2, 2, 2, 2])


def torchvision_resnet50():
    return TVResNet(TVBottleneck, [3, 4, 6, 3])


def torchvision_resnext50_32x4d():
    return TVResNet(TVBottleneck, [3, 4, 6, 3], groups=32, width_per_group=4)


def timm_resnext101_32x4d():
    return TVResNet(TVBottleneck, [3, 4, 23, 3], groups=32, width_per_group=4)


def _deep_stem(widths=(32, 32, 64)):
    """timm's deep stem: conv1.0 (3x3/2), conv1.1 BN, conv1.2 ReLU, ... conv1.6, then bn1."""
    a, b, c = widths
    return nn.Sequential(conv3x3(3, a, 2), nn.BatchNorm2d(a), nn.ReLU(inplace=True),
                         conv3x3(a, b), nn.BatchNorm2d(b), nn.ReLU(inplace=True), conv3x3(b, c))


def timm_resnet50d():
    return TVResNet(TVBottleneck, [3, 4, 6, 3], stem=_deep_stem(), avg_down=True)


def timm_resnet50t():
    """timm's resnet50t: a 'tiered' deep stem of 24, 32, 64 channels, avg-down shortcuts."""
    return TVResNet(TVBottleneck, [3, 4, 6, 3], stem=_deep_stem((24, 32, 64)), avg_down=True)


class TimmSE(nn.Module):
    """timm's SEModule: 1x1 convs with biases, reduced to make_divisible(C / 16, 8) channels."""

    def __init__(self, channels, rd_ratio=1 / 16):
        super().__init__()
        rd = max(8, int(channels * rd_ratio + 4) // 8 * 8)
        self.fc1, self.act = nn.Conv2d(channels, rd, 1), nn.ReLU(inplace=True)
        self.fc2, self.gate = nn.Conv2d(rd, channels, 1), nn.Sigmoid()

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.fc2(self.act(self.fc1(s))))


class TimmEca(nn.Module):
    """timm's EcaModule: kernel from the channels (gamma 2, beta 1), a Conv1d across channels."""

    def __init__(self, channels):
        super().__init__()
        t = int(abs(math.log(channels, 2) + 1) / 2)
        k = max(t if t % 2 else t + 1, 3)
        self.conv = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)

    def forward(self, x):
        y = x.mean((2, 3)).view(x.shape[0], 1, -1)
        y = self.conv(y)
        return x * torch.sigmoid(y).view(x.shape[0], -1, 1, 1).expand_as(x)


class TimmAttnBottleneck(TVBottleneck):
    """timm's Bottleneck with `attn_layer` after bn3 (SE or ECA)."""

    def __init__(self, cin, planes, stride=1, downsample=None, groups=1, base_width=64,
                 attn=TimmSE):
        super().__init__(cin, planes, stride, downsample, groups, base_width)
        self.se = attn(planes * 4)

    def forward(self, x):
        shortcut = x
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        x = self.se(self.bn3(self.conv3(x)))
        if self.downsample is not None:
            shortcut = self.downsample(shortcut)
        return self.relu(x + shortcut)


def timm_seresnet50():
    def block(*args, **kwargs):
        return TimmAttnBottleneck(*args, **kwargs, attn=TimmSE)

    block.expansion = 4
    return TVResNet(block, [3, 4, 6, 3])


def timm_ecaresnet50d():
    def block(*args, **kwargs):
        return TimmAttnBottleneck(*args, **kwargs, attn=TimmEca)

    block.expansion = 4
    return TVResNet(block, [3, 4, 6, 3], stem=_deep_stem(), avg_down=True)


class BlurPool(nn.Module):
    """timm's BlurPool2d: a fixed binomial filter (a buffer) applied depthwise with stride 2;
    the filter size is kept in a list the forward reads."""

    def __init__(self, channels, filt_size=3):
        super().__init__()
        self.channels, self.padding = channels, [1, 1, 1, 1]
        coeffs = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("filt", (coeffs[:, None] * coeffs[None, :])[None, None].repeat(
            channels, 1, 1, 1) / 16, persistent=False)

    def forward(self, x):
        x = F.pad(x, self.padding, "reflect")
        return F.conv2d(x, self.filt, stride=2, groups=self.channels)


class BlurBasic(TVBasic):
    """timm's BasicBlock with `aa_layer`: a stride-1 conv, then the blur pool does the stride."""

    def __init__(self, cin, planes, stride=1, downsample=None, groups=1, base_width=64):
        super().__init__(cin, planes, 1, downsample)
        self.aa = BlurPool(planes) if stride == 2 else nn.Identity()

    def forward(self, x):
        shortcut = x
        x = self.aa(self.relu(self.bn1(self.conv1(x))))
        x = self.bn2(self.conv2(x))
        if self.downsample is not None:
            shortcut = self.downsample(shortcut)
        return self.relu(x + shortcut)


def timm_resnetblur18():
    return TVResNet(BlurBasic, [2, 2, 2, 2])


class ClassifierHead(nn.Module):
    """timm's ClassifierHead: a pool chosen by a string, `pre_logits`, flatten by flag."""

    def __init__(self, channels, classes, pool_type="avg"):
        super().__init__()
        self.pool_type, self.flatten_after = pool_type, True
        self.fc = nn.Linear(channels, classes)

    def forward(self, x, pre_logits: bool = False):
        x = F.adaptive_avg_pool2d(x, 1) if self.pool_type == "avg" else \
            F.adaptive_max_pool2d(x, 1)
        if self.flatten_after:
            x = x.flatten(1)
        if pre_logits:
            return x
        return self.fc(x)


class StdConv2d(nn.Conv2d):
    """timm's StdConv2d (BiT): the weight standardised through F.batch_norm before the conv."""

    def forward(self, x):
        weight = F.batch_norm(self.weight.reshape(1, self.out_channels, -1), None, None,
                              training=True, momentum=0.0, eps=1e-6).reshape_as(self.weight)
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


class PreActBottleneck(nn.Module):
    """timm's resnetv2 PreActBottleneck: norm1 before the 1x1s, the projection reads it;
    `conv` and `norm` as the model chooses (BiT: StdConv2d and GroupNorm(32))."""

    def __init__(self, cin, cout, mid, stride, conv=nn.Conv2d, norm=nn.BatchNorm2d):
        super().__init__()
        self.downsample = conv(cin, cout, 1, stride, bias=False) \
            if stride != 1 or cin != cout else None
        self.norm1, self.conv1 = norm(cin), conv(cin, mid, 1, bias=False)
        self.norm2, self.conv2 = norm(mid), conv(mid, mid, 3, stride, 1, bias=False)
        self.norm3, self.conv3 = norm(mid), conv(mid, cout, 1, bias=False)

    def forward(self, x):
        x_preact = F.relu(self.norm1(x))
        shortcut = x if self.downsample is None else self.downsample(x_preact)
        x = self.conv1(x_preact)
        x = self.conv2(F.relu(self.norm2(x)))
        x = self.conv3(F.relu(self.norm3(x)))
        return x + shortcut


class TimmResNetV2(nn.Module):
    """timm's resnetv2_50: stem conv 7x7 + max-pool, pre-activation stages, a final norm, and
    a ClassifierHead."""

    def __init__(self, layers=(3, 4, 6, 3), conv=nn.Conv2d, norm=nn.BatchNorm2d):
        super().__init__()
        self.stem = nn.Sequential(conv(3, 64, 7, 2, 3, bias=False), nn.MaxPool2d(3, 2, 1))
        cin, stages = 64, []
        for i, count in enumerate(layers):
            mid = 64 * 2 ** i
            blocks = []
            for j in range(count):
                blocks.append(PreActBottleneck(cin, mid * 4, mid, 2 if j == 0 and i > 0 else 1,
                                               conv, norm))
                cin = mid * 4
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.norm = nn.Sequential(norm(cin), nn.ReLU(inplace=True))
        self.head = ClassifierHead(cin, 1000)

    def forward(self, x):
        return self.head(self.norm(self.stages(self.stem(x))))


def timm_resnetv2_50x1_bit():
    """timm's resnetv2_50x1_bit: the same skeleton with StdConv2d and GroupNorm(32)."""
    return TimmResNetV2(conv=StdConv2d, norm=lambda channels: nn.GroupNorm(32, channels))


class RegNetBlock(nn.Module):
    """timm's RegNet Bottleneck (RegNetY): 1x1, grouped 3x3 (group width), SE on the block's
    input width / 4, 1x1 without activation, projection where the shape changes."""

    def __init__(self, cin, cout, stride, group_width):
        super().__init__()
        self.conv1, self.bn1 = conv1x1(cin, cout), nn.BatchNorm2d(cout)
        self.conv2 = conv3x3(cout, cout, stride, cout // group_width)
        self.bn2 = nn.BatchNorm2d(cout)
        rd = max(1, cin // 4)
        self.se = nn.Sequential()
        self.se_fc1, self.se_fc2 = nn.Conv2d(cout, rd, 1), nn.Conv2d(rd, cout, 1)
        self.conv3, self.bn3 = conv1x1(cout, cout), nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(conv1x1(cin, cout, stride), nn.BatchNorm2d(cout))

    def forward(self, x):
        shortcut = x
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        s = F.relu(self.se_fc1(x.mean((2, 3), keepdim=True)))
        x = x * self.se_fc2(s).sigmoid()
        x = self.bn3(self.conv3(x))
        if self.downsample is not None:
            shortcut = self.downsample(shortcut)
        return F.relu(x + shortcut)


class TimmRegNetY(nn.Module):
    """timm's RegNetY-200MF shape, shortened: 3x3/2 stem of 32, stages (1, 1, 4, 7) of widths
    (24, 56, 152, 368), group width 8, a ClassifierHead."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(conv3x3(3, 32, 2), nn.BatchNorm2d(32), nn.ReLU(inplace=True))
        cin, stages = 32, []
        for depth, width in zip((1, 1, 4, 7), (24, 56, 152, 368)):
            blocks = []
            for j in range(depth):
                blocks.append(RegNetBlock(cin, width, 2 if j == 0 else 1, 8))
                cin = width
            stages.append(nn.Sequential(*blocks))
        self.s1, self.s2, self.s3, self.s4 = stages
        self.head = ClassifierHead(cin, 1000)

    def forward(self, x):
        return self.head(self.s4(self.s3(self.s2(self.s1(self.stem(x))))))


# ===== Res2Net, ResNeSt, SKNet, CBAM, ECA ========================================================


class Bottle2neck(nn.Module):
    """Res2Net's Bottle2neck (26w x 4s): split the 1x1's output, each 3x3 reads its split plus
    the previous 3x3's output, concatenations grow the output; 'stage' blocks pool the last
    split."""

    expansion = 4

    def __init__(self, cin, planes, stride=1, downsample=None, width=26, scale=4, stype="normal"):
        super().__init__()
        w = int(math.floor(planes * (width / 64.0)))
        self.conv1, self.bn1 = conv1x1(cin, w * scale), nn.BatchNorm2d(w * scale)
        self.nums = scale - 1
        if stype == "stage":
            self.pool = nn.AvgPool2d(3, stride, 1)
        self.convs = nn.ModuleList(conv3x3(w, w, stride) for _ in range(self.nums))
        self.bns = nn.ModuleList(nn.BatchNorm2d(w) for _ in range(self.nums))
        self.conv3, self.bn3 = conv1x1(w * scale, planes * 4), nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample, self.stype, self.scale, self.width = downsample, stype, scale, w

    def forward(self, x):
        residual = x
        out = self.relu(self.bn1(self.conv1(x)))
        spx = torch.split(out, self.width, 1)
        for i in range(self.nums):
            sp = spx[i] if i == 0 or self.stype == "stage" else sp + spx[i]
            sp = self.relu(self.bns[i](self.convs[i](sp)))
            out = sp if i == 0 else torch.cat((out, sp), 1)
        if self.stype == "normal":
            out = torch.cat((out, spx[self.nums]), 1)
        else:
            out = torch.cat((out, self.pool(spx[self.nums])), 1)
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            residual = self.downsample(x)
        return self.relu(out + residual)


class Res2Net(TVResNet):
    """Res2Net-50 (26w x 4s): torchvision's skeleton; a stage's first block is 'stage'."""

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = self._downsample(planes * 4, stride)
        layers = [Bottle2neck(self.inplanes, planes, stride, downsample, stype="stage")]
        self.inplanes = planes * 4
        layers += [Bottle2neck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)


def res2net50_26w_4s():
    return Res2Net(Bottle2neck, [3, 4, 6, 3])


class SplitAttention(nn.Module):
    """ResNeSt's SplAtConv2d (radix 2, cardinality 1): one grouped conv makes both splits,
    their sum is pooled into fc1-bn-relu-fc2, an rSoftMax across the splits weighs them."""

    def __init__(self, cin, channels, stride=1, radix=2, reduction=4):
        super().__init__()
        inter = max(cin * radix // reduction, 32)
        self.radix, self.channels = radix, channels
        self.conv = nn.Conv2d(cin, channels * radix, 3, stride, 1, groups=radix, bias=False)
        self.bn0, self.relu = nn.BatchNorm2d(channels * radix), nn.ReLU(inplace=True)
        self.fc1, self.bn1 = nn.Conv2d(channels, inter, 1), nn.BatchNorm2d(inter)
        self.fc2 = nn.Conv2d(inter, channels * radix, 1)

    def forward(self, x):
        x = self.relu(self.bn0(self.conv(x)))
        batch = x.shape[0]
        splited = torch.split(x, self.channels, dim=1)
        gap = sum(splited)
        gap = F.adaptive_avg_pool2d(gap, 1)
        gap = self.fc2(self.relu(self.bn1(self.fc1(gap))))
        atten = gap.view(batch, 1, self.radix, -1).transpose(1, 2)
        atten = F.softmax(atten, dim=1).reshape(batch, -1, 1, 1)
        attens = torch.split(atten, self.channels, dim=1)
        return sum(att * split for att, split in zip(attens, splited))


class ResNeStBottleneck(nn.Module):
    """ResNeSt's Bottleneck with avd: the stride by a 3x3 avg pool after the split attention."""

    expansion = 4

    def __init__(self, cin, planes, stride=1, downsample=None, groups=1, base_width=64):
        super().__init__()
        self.conv1, self.bn1 = conv1x1(cin, planes), nn.BatchNorm2d(planes)
        self.conv2 = SplitAttention(planes, planes)
        self.avd_layer = nn.AvgPool2d(3, stride, padding=1) if stride > 1 else None
        self.conv3, self.bn3 = conv1x1(planes, planes * 4), nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        residual = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.conv2(out)
        if self.avd_layer is not None:
            out = self.avd_layer(out)
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            residual = self.downsample(x)
        return self.relu(out + residual)


def resnest50_like():
    return TVResNet(ResNeStBottleneck, [3, 4, 6, 3], stem=_deep_stem(), avg_down=True)


class SKConv(nn.Module):
    """pppLang's SKConv (M=2 branches: 3x3 and 5x5), branches stacked with unsqueeze + cat,
    fused by a sum, a Linear to d, one Linear per branch, softmax across branches."""

    def __init__(self, channels, stride=1, branches=2, r=16, floor=32):
        super().__init__()
        d = max(channels // r, floor)
        self.convs = nn.ModuleList(nn.Sequential(
            nn.Conv2d(channels, channels, 3 + 2 * i, stride, 1 + i, bias=False),
            nn.BatchNorm2d(channels), nn.ReLU(inplace=False)) for i in range(branches))
        self.fc = nn.Linear(channels, d)
        self.fcs = nn.ModuleList(nn.Linear(d, channels) for _ in range(branches))
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x):
        feas = torch.cat([conv(x).unsqueeze(1) for conv in self.convs], dim=1)
        fea_u = torch.sum(feas, dim=1)
        fea_z = self.fc(fea_u.mean(-1).mean(-1))
        vectors = torch.cat([fc(fea_z).unsqueeze(1) for fc in self.fcs], dim=1)
        vectors = self.softmax(vectors).unsqueeze(-1).unsqueeze(-1)
        return (feas * vectors).sum(dim=1)


class SKBasic(nn.Module):
    """A user's SK-ResNet basic block: the first 3x3 a plain conv, the second an SK unit."""

    def __init__(self, cin, planes, stride=1):
        super().__init__()
        self.conv1, self.bn1 = conv3x3(cin, planes, stride), nn.BatchNorm2d(planes)
        self.sk = SKConv(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != planes:
            self.shortcut = nn.Sequential(conv1x1(cin, planes, stride), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.sk(out) + self.shortcut(x))


def sk_resnet18():
    model = KLResNet(KLBasic, [2, 2, 2, 2])
    cin = 64
    for name, planes in (("layer1", 64), ("layer2", 128), ("layer3", 256), ("layer4", 512)):
        stride = 1 if name == "layer1" else 2
        setattr(model, name, nn.Sequential(SKBasic(cin, planes, stride), SKBasic(planes, planes)))
        cin = planes
    return model


class ChannelAttention(nn.Module):
    """luuuyi's CBAM ChannelAttention: avg and max pools through one shared pair of 1x1 convs."""

    def __init__(self, planes, ratio=16):
        super().__init__()
        self.avg_pool, self.max_pool = nn.AdaptiveAvgPool2d(1), nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Sequential(nn.Conv2d(planes, planes // ratio, 1, bias=False), nn.ReLU(),
                                nn.Conv2d(planes // ratio, planes, 1, bias=False))
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        return self.sigmoid(self.fc(self.avg_pool(x)) + self.fc(self.max_pool(x)))


class SpatialAttention(nn.Module):
    """luuuyi's CBAM SpatialAttention: channel mean and max, concatenated, a 7x7 conv."""

    def __init__(self, kernel=7):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 1, kernel, padding=kernel // 2, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        avg_out = torch.mean(x, dim=1, keepdim=True)
        max_out, _ = torch.max(x, dim=1, keepdim=True)
        return self.sigmoid(self.conv1(torch.cat([avg_out, max_out], dim=1)))


class CBAMBasic(TVBasic):
    """luuuyi's CBAM BasicBlock: `out = self.ca(out) * out; out = self.sa(out) * out`."""

    def __init__(self, cin, planes, stride=1, downsample=None, groups=1, base_width=64):
        super().__init__(cin, planes, stride, downsample)
        self.ca, self.sa = ChannelAttention(planes), SpatialAttention()

    def forward(self, x):
        residual = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = self.ca(out) * out
        out = self.sa(out) * out
        if self.downsample is not None:
            residual = self.downsample(x)
        return self.relu(out + residual)


def cbam_resnet18():
    return TVResNet(CBAMBasic, [2, 2, 2, 2])


class EcaLayer(nn.Module):
    """BangguWu's eca_layer: pool, squeeze/transpose, Conv1d (k=3), sigmoid, expand_as."""

    def __init__(self, k_size=3):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv1d(1, 1, k_size, padding=(k_size - 1) // 2, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        y = self.avg_pool(x)
        y = self.conv(y.squeeze(-1).transpose(-1, -2)).transpose(-1, -2).unsqueeze(-1)
        return x * self.sigmoid(y).expand_as(x)


class EcaBasic(TVBasic):
    """BangguWu's ECABasicBlock: the ECA layer after bn2."""

    def __init__(self, cin, planes, stride=1, downsample=None, groups=1, base_width=64):
        super().__init__(cin, planes, stride, downsample)
        self.eca = EcaLayer()

    def forward(self, x):
        residual = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.eca(self.bn2(self.conv2(out)))
        if self.downsample is not None:
            residual = self.downsample(x)
        return self.relu(out + residual)


def eca_resnet18():
    return TVResNet(EcaBasic, [2, 2, 2, 2])


# ===== bearpaw/pytorch-classification ============================================================


class BPPreBlock(nn.Module):
    """bearpaw's preresnet BasicBlock: bn-relu-conv twice; `downsample` reads the raw input."""

    def __init__(self, cin, planes, stride=1, downsample=None):
        super().__init__()
        self.bn1, self.relu = nn.BatchNorm2d(cin), nn.ReLU(inplace=True)
        self.conv1 = conv3x3(cin, planes, stride)
        self.bn2, self.conv2 = nn.BatchNorm2d(planes), conv3x3(planes, planes)
        self.downsample = downsample

    def forward(self, x):
        residual = x
        out = self.conv1(self.relu(self.bn1(x)))
        out = self.conv2(self.relu(self.bn2(out)))
        if self.downsample is not None:
            residual = self.downsample(x)
        return out + residual


class BPPreResNet(nn.Module):
    """bearpaw's preresnet(depth=20): CIFAR, final bn + relu, AvgPool2d(8)."""

    def __init__(self, depth=20):
        super().__init__()
        n, self.inplanes = (depth - 2) // 6, 16
        self.conv1 = conv3x3(3, 16)
        self.layer1 = self._make(16, n, 1)
        self.layer2 = self._make(32, n, 2)
        self.layer3 = self._make(64, n, 2)
        self.bn, self.relu = nn.BatchNorm2d(64), nn.ReLU(inplace=True)
        self.avgpool, self.fc = nn.AvgPool2d(8), nn.Linear(64, 10)

    def _make(self, planes, n, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes, stride))
        layers = [BPPreBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BPPreBlock(planes, planes) for _ in range(1, n)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        x = self.avgpool(self.relu(self.bn(x)))
        return self.fc(x.view(x.size(0), -1))


class BPResNeXtBottleneck(nn.Module):
    """bearpaw's CIFAR ResNeXtBottleneck: conv_reduce, conv_conv (groups), conv_expand, and a
    `shortcut` Sequential holding shortcut_conv and shortcut_bn by name."""

    def __init__(self, cin, cout, stride, cardinality, widen):
        super().__init__()
        d = cardinality * cout // widen  # bearpaw's D
        self.conv_reduce, self.bn_reduce = conv1x1(cin, d), nn.BatchNorm2d(d)
        self.conv_conv, self.bn = conv3x3(d, d, stride, cardinality), nn.BatchNorm2d(d)
        self.conv_expand, self.bn_expand = conv1x1(d, cout), nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if cin != cout:
            self.shortcut.add_module("shortcut_conv", conv1x1(cin, cout, stride))
            self.shortcut.add_module("shortcut_bn", nn.BatchNorm2d(cout))

    def forward(self, x):
        bottleneck = F.relu(self.bn_reduce.forward(self.conv_reduce.forward(x)), inplace=True)
        bottleneck = F.relu(self.bn.forward(self.conv_conv.forward(bottleneck)), inplace=True)
        bottleneck = self.bn_expand.forward(self.conv_expand.forward(bottleneck))
        return F.relu(self.shortcut.forward(x) + bottleneck, inplace=True)


class BPResNeXt29(nn.Module):
    """bearpaw's CifarResNeXt(cardinality=4, depth=29, widen_factor=4), stages of 256, 512,
    1024 channels, `stage_1`... built with add_module."""

    def __init__(self, cardinality=4, widen=4):
        super().__init__()
        widths = [64, 64 * widen, 128 * widen, 256 * widen]
        self.conv_1_3x3, self.bn_1 = conv3x3(3, 64), nn.BatchNorm2d(64)
        for i, stride in enumerate((1, 2, 2)):
            stage = nn.Sequential()
            for j in range(3):
                stage.add_module(f"stage_{i + 1}_bottleneck_{j}", BPResNeXtBottleneck(
                    widths[i] if j == 0 else widths[i + 1], widths[i + 1],
                    stride if j == 0 else 1, cardinality, widen))
            self.add_module(f"stage_{i + 1}", stage)
        self.classifier = nn.Linear(widths[3], 10)

    def forward(self, x):
        x = F.relu(self.bn_1.forward(self.conv_1_3x3.forward(x)), inplace=True)
        x = self.stage_3.forward(self.stage_2.forward(self.stage_1.forward(x)))
        x = F.avg_pool2d(x, 8, 1)
        return self.classifier(x.view(-1, x.size(1)))


# ===== davidcpage/cifar10-fast, a GroupNorm/SiLU variant ==========================================


class Residual(nn.Module):
    """cifar10-fast's Residual: `x + self.res(x)` around two conv-bn-relu."""

    def __init__(self, channels):
        super().__init__()
        self.res = nn.Sequential(*_conv_bn(channels, channels), *_conv_bn(channels, channels))

    def forward(self, x):
        return x + self.res(x)


def _conv_bn(cin, cout):
    return [conv3x3(cin, cout), nn.BatchNorm2d(cout), nn.ReLU()]


class Mul(nn.Module):
    def __init__(self, weight):
        super().__init__()
        self.weight = weight

    def forward(self, x):
        return x * self.weight


def page_resnet9():
    """The 'ResNet-9' of cifar10-fast: prep, layer1 (+ residual), layer2, layer3 (+ residual),
    a global max-pool, a bias-free linear and a fixed 0.125 scale. (Its own `Network` runs a
    dict of named nodes on a dict of inputs; the same layers are a Sequential here.)"""
    return nn.Sequential(
        *_conv_bn(3, 64),
        *_conv_bn(64, 128), nn.MaxPool2d(2), Residual(128),
        *_conv_bn(128, 256), nn.MaxPool2d(2),
        *_conv_bn(256, 512), nn.MaxPool2d(2), Residual(512),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(512, 10, bias=False), Mul(0.125))


class GNSiLUBasic(TVBasic):
    """A user's ResNet-18 variant: GroupNorm (32 groups) and SiLU in place of BN and ReLU."""

    def __init__(self, cin, planes, stride=1, downsample=None, groups=1, base_width=64):
        super().__init__(cin, planes, stride, downsample)
        self.bn1, self.bn2 = nn.GroupNorm(32, planes), nn.GroupNorm(32, planes)
        self.relu = nn.SiLU(inplace=True)


def groupnorm_silu_resnet18():
    model = TVResNet(GNSiLUBasic, [2, 2, 2, 2])
    for module in model.modules():
        if isinstance(module, nn.Sequential) and len(module) == 2 and \
                isinstance(module[1], nn.BatchNorm2d):
            module[1] = nn.GroupNorm(32, module[1].num_features)
    model.bn1, model.relu = nn.GroupNorm(32, 64), nn.SiLU(inplace=True)
    return model


# ===== not ResNets: torchvision's MobileNetV2, EfficientNet, ConvNeXt, a ViT =====================


class InvertedResidual(nn.Module):
    """torchvision's InvertedResidual: `use_res_connect`, ReLU6, a `conv` Sequential."""

    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.use_res_connect = stride == 1 and cin == cout
        layers = []
        if expand != 1:
            layers += [conv1x1(cin, hidden), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True)]
        layers += [nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
                   nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True),
                   conv1x1(hidden, cout), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class TVMobileNetV2(nn.Module):
    """torchvision's MobileNetV2, shortened: `inverted_residual_setting` t, c, n, s."""

    setting = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 2, 2]]

    def __init__(self):
        super().__init__()
        layers = [conv3x3(3, 32, 2), nn.BatchNorm2d(32), nn.ReLU6(inplace=True)]
        cin = 32
        for t, c, n, s in self.setting:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers += [conv1x1(cin, 1280), nn.BatchNorm2d(1280), nn.ReLU6(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, 1000))

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


class MBConv(nn.Module):
    """An EfficientNet-B0 MBConv as timm writes it: SiLU, SE on the input width / 4, the kernel
    sizes of the stage kept in a list attribute, drop path skipped in evaluation."""

    def __init__(self, cin, cout, stride, expand, kernel):
        super().__init__()
        hidden = cin * expand
        self.has_skip = stride == 1 and cin == cout
        self.kernels = [kernel]
        self.conv_pw = conv1x1(cin, hidden) if expand != 1 else nn.Identity()
        self.bn1 = nn.BatchNorm2d(hidden) if expand != 1 else nn.Identity()
        self.conv_dw = nn.Conv2d(hidden, hidden, kernel, stride, kernel // 2, groups=hidden,
                                 bias=False)
        self.bn2, self.act = nn.BatchNorm2d(hidden), nn.SiLU(inplace=True)
        self.se = TimmSE(hidden, rd_ratio=0.25 / expand)
        self.conv_pwl, self.bn3 = conv1x1(hidden, cout), nn.BatchNorm2d(cout)

    def forward(self, x):
        shortcut = x
        x = self.act(self.bn1(self.conv_pw(x))) if self.kernels[0] else x
        x = self.se(self.act(self.bn2(self.conv_dw(x))))
        x = self.bn3(self.conv_pwl(x))
        return x + shortcut if self.has_skip else x


class EfficientNetLike(nn.Module):
    """EfficientNet-B0's first stages: (expand, channels, repeats, stride, kernel)."""

    def __init__(self):
        super().__init__()
        self.conv_stem, self.bn1 = conv3x3(3, 32, 2), nn.BatchNorm2d(32)
        blocks, cin = [], 32
        for e, c, n, s, k in [(1, 16, 1, 1, 3), (6, 24, 2, 2, 3), (6, 40, 2, 2, 5)]:
            for i in range(n):
                blocks.append(MBConv(cin, c, s if i == 0 else 1, e, k))
                cin = c
        self.blocks = nn.Sequential(*blocks)
        self.conv_head, self.bn2 = conv1x1(cin, 1280), nn.BatchNorm2d(1280)
        self.classifier = nn.Linear(1280, 1000)

    def forward(self, x):
        x = F.silu(self.bn1(self.conv_stem(x)))
        x = F.silu(self.bn2(self.conv_head(self.blocks(x))))
        return self.classifier(x.mean((2, 3)))


class LayerNorm2d(nn.LayerNorm):
    """ConvNeXt's channels-first LayerNorm: permute, normalise over channels, permute back."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    """facebookresearch/ConvNeXt's Block: 7x7 depthwise, channels-last LayerNorm, Linear MLP,
    a layer-scale parameter `gamma`, drop path (identity in evaluation)."""

    def __init__(self, dim):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1, self.act, self.pwconv2 = nn.Linear(dim, 4 * dim), nn.GELU(), \
            nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(1e-6 * torch.ones(dim))

    def forward(self, x):
        shortcut = x
        x = self.dwconv(x).permute(0, 2, 3, 1)
        x = self.pwconv2(self.act(self.pwconv1(self.norm(x))))
        x = (self.gamma * x).permute(0, 3, 1, 2)
        return shortcut + x


class ConvNeXtLike(nn.Module):
    """ConvNeXt, shortened: patchify stem (4x4/4), stages of (1, 1, 3, 1) blocks, downsampling
    layers of LayerNorm + 2x2/2 conv, a final LayerNorm and a Linear head."""

    def __init__(self, dims=(32, 64, 128, 256), depths=(1, 1, 3, 1)):
        super().__init__()
        self.downsample_layers = nn.ModuleList([nn.Sequential(
            nn.Conv2d(3, dims[0], 4, 4), LayerNorm2d(dims[0], eps=1e-6))])
        for i in range(3):
            self.downsample_layers.append(nn.Sequential(
                LayerNorm2d(dims[i], eps=1e-6), nn.Conv2d(dims[i], dims[i + 1], 2, 2)))
        self.stages = nn.ModuleList(nn.Sequential(*[ConvNeXtBlock(d) for _ in range(n)])
                                    for d, n in zip(dims, depths))
        self.norm, self.head = nn.LayerNorm(dims[-1], eps=1e-6), nn.Linear(dims[-1], 1000)

    def forward(self, x):
        for i in range(4):
            x = self.stages[i](self.downsample_layers[i](x))
        return self.head(self.norm(x.mean([-2, -1])))


class Attention(nn.Module):
    """lucidrains' ViT Attention: one Linear to q, k, v, chunk, softmax(q k^T * scale) v."""

    def __init__(self, dim, heads=4, dim_head=16):
        super().__init__()
        inner = heads * dim_head
        self.heads, self.scale = heads, dim_head ** -0.5
        self.norm = nn.LayerNorm(dim)
        self.to_qkv = nn.Linear(dim, inner * 3, bias=False)
        self.to_out = nn.Linear(inner, dim)

    def forward(self, x):
        x = self.norm(x)
        b, n, _ = x.shape
        q, k, v = (t.reshape(b, n, self.heads, -1).transpose(1, 2)
                   for t in self.to_qkv(x).chunk(3, dim=-1))
        attn = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * self.scale, dim=-1)
        out = torch.matmul(attn, v).transpose(1, 2).reshape(b, n, -1)
        return self.to_out(out)


class FeedForward(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(),
                                 nn.Linear(hidden, dim))

    def forward(self, x):
        return self.net(x)


class SmallViT(nn.Module):
    """lucidrains' ViT: patches by reshape + Linear, a cls token, positional embedding, a
    Transformer of `depth` (attention, feed-forward) pairs with `x = attn(x) + x`."""

    def __init__(self, image=32, patch=8, dim=64, depth=2, classes=10):
        super().__init__()
        self.patch, patches = patch, (image // patch) ** 2
        self.to_patch = nn.Linear(3 * patch * patch, dim)
        self.pos_embedding = nn.Parameter(torch.randn(1, patches + 1, dim))
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        self.layers = nn.ModuleList(nn.ModuleList([Attention(dim), FeedForward(dim, 2 * dim)])
                                    for _ in range(depth))
        self.norm, self.head = nn.LayerNorm(dim), nn.Linear(dim, classes)

    def forward(self, img):
        b, c, h, w = img.shape
        p = self.patch
        x = img.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1)
        x = self.to_patch(x.reshape(b, (h // p) * (w // p), p * p * c))
        x = torch.cat((self.cls_token.expand(b, -1, -1), x), dim=1) + self.pos_embedding
        for attn, ff in self.layers:
            x = attn(x) + x
            x = ff(x) + x
        return self.head(self.norm(x)[:, 0])
