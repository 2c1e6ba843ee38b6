"""Networks as people write them, for the generic analysis tests.

Written in the styles of the project's source posts: a tutorial "ResNet18" (3x3 stride-3 stem,
one block per stage, no ReLU after the sum), a CIFAR net with 2x2 strided convs between stages
and ModuleLists looped in `forward`, ResNet-50 assembled from identity and conv blocks, a CIFAR
ResNet-20 with a lambda option-A shortcut, a pre-activation ResNet-18 with `hasattr` shortcuts,
a ResNet-50 v1 with `torch.add`, and a module with data-dependent control flow.
"""

import torch
import torch.nn.functional as F
from torch import nn

import seed_networks


# ----- a tutorial "ResNet18": ten weighted layers ---------------------------------------------


class TutorialResNet18(seed_networks.ResNet18):
    """Seed 001's network (`seed_networks.ResNet18`), under the name the analysis tests use."""


# ----- a CIFAR net: 2x2 strided convs between stages, n=7 -------------------------------------


class Flatten(nn.Module):
    def forward(self, x):
        n = x.shape[0]
        return x.view(n, -1)


class StageOfBlocks(nn.Module):
    def __init__(self, pool_first, channels_in, channels, repeat):
        super().__init__()
        self.pool_first = pool_first
        self.repeat = repeat
        self.pool = nn.ModuleList()
        if pool_first:
            self.pool.append(nn.Conv2d(channels_in, channels, kernel_size=2, stride=2))
        self.blocks = nn.ModuleList()
        for _ in range(repeat):
            first_in = channels if pool_first else channels_in
            self.blocks.append(nn.ModuleList([
                nn.Sequential(nn.Conv2d(first_in, channels, 3, padding=1), nn.BatchNorm2d(channels),
                              nn.ReLU()),
                nn.Conv2d(channels, channels, 3, padding=1),
                nn.BatchNorm2d(channels),
            ]))

    def forward(self, x):
        if self.pool_first:
            x = self.pool[0](x)
        for i in range(self.repeat):
            skip = x.clone()
            for layer in self.blocks[i]:
                x = layer(x)
            x = skip + x
            x = torch.nn.functional.relu(x)
        return x


class CifarNet44(nn.Module):
    def __init__(self, repeat=7):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 16, kernel_size=3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            StageOfBlocks(False, 16, 16, repeat), StageOfBlocks(True, 16, 32, repeat),
            StageOfBlocks(True, 32, 64, repeat), nn.AvgPool2d(8, 1), Flatten(), nn.Linear(64, 10))

    def forward(self, x):
        return self.net(x)


# ----- ResNet-50 v1 from identity and conv blocks -------------------------------------------


class IdentityBlock(nn.Module):
    def __init__(self, channels, filters):
        super().__init__()
        f1, f2, f3 = filters
        self.body = nn.Sequential(
            nn.Conv2d(channels, f1, 1, bias=False), nn.BatchNorm2d(f1), nn.ReLU(inplace=True),
            nn.Conv2d(f1, f2, 3, padding=1, bias=False), nn.BatchNorm2d(f2), nn.ReLU(inplace=True),
            nn.Conv2d(f2, f3, 1, bias=False), nn.BatchNorm2d(f3))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.body(x) + x)


class ConvBlock(IdentityBlock):
    def __init__(self, channels, filters, stride=2):
        super().__init__(channels, filters)
        self.body[0] = nn.Conv2d(channels, filters[0], 1, stride=stride, bias=False)
        self.shortcut = nn.Sequential(nn.Conv2d(channels, filters[2], 1, stride=stride, bias=False),
                                      nn.BatchNorm2d(filters[2]))

    def forward(self, x):
        x = self.body(x) + self.shortcut(x)
        return self.relu(x)


class KerasStyleResNet50(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, stride=2, bias=False), nn.BatchNorm2d(64),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1))
        blocks, channels = [], 64
        for stage, (width, count) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3))):
            filters = (width, width, width * 4)
            blocks.append(ConvBlock(channels, filters, stride=1 if stage == 0 else 2))
            blocks += [IdentityBlock(width * 4, filters) for _ in range(count - 1)]
            channels = width * 4
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(2048, num_classes)

    def forward(self, x):
        x = nn.functional.pad(x, (3, 3, 3, 3))
        x = self.blocks(self.stem(x))
        x = nn.AdaptiveAvgPool2d((1, 1))(x) if False else F.adaptive_avg_pool2d(x, (1, 1))
        return self.fc(torch.flatten(x, 1))


# ----- CIFAR ResNet-20 with a lambda option-A shortcut -----------------------------------------


class LambdaLayer(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class CifarBlock(nn.Module):
    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            pad = planes // 4
            self.shortcut = LambdaLayer(
                lambda x: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, pad, pad), "constant", 0))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return F.relu(out)


class CifarResNet20(nn.Module):
    def __init__(self, n=3):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, in_planes = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(n):
                layers.append(CifarBlock(in_planes, planes, stride if i == 0 else 1))
                in_planes = planes
        self.layers = nn.Sequential(*layers)
        self.linear = nn.Linear(64, 10)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layers(out)
        out = F.avg_pool2d(out, out.size()[3])
        return self.linear(out.view(out.size(0), -1))


# ----- pre-activation ResNet-18 with hasattr shortcuts -------------------------------------------


class PreActBlock(nn.Module):
    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False))

    def forward(self, x):
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if hasattr(self, "shortcut") else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        out += shortcut
        return out


class PreActResNet18(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        in_planes, stages = 64, []
        for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            stages.append(nn.Sequential(PreActBlock(in_planes, planes, stride),
                                        PreActBlock(planes, planes)))
            in_planes = planes
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.bn = nn.BatchNorm2d(512)
        self.linear = nn.Linear(512, num_classes)

    def forward(self, x):
        out = self.conv1(x)
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.relu(self.bn(out))
        out = F.adaptive_avg_pool2d(out, 1)
        return self.linear(torch.flatten(out, 1))


# ----- ResNet-50 v1 with torch.add and ModuleLists ----------------------------------------------


class AddBottleneck(nn.Module):
    def __init__(self, in_ch, width, stride):
        super().__init__()
        out_ch = width * 4
        self.convs = nn.ModuleList([nn.Conv2d(in_ch, width, 1, stride, bias=False),
                                    nn.Conv2d(width, width, 3, 1, 1, bias=False),
                                    nn.Conv2d(width, out_ch, 1, bias=False)])
        self.norms = nn.ModuleList([nn.BatchNorm2d(width), nn.BatchNorm2d(width),
                                    nn.BatchNorm2d(out_ch)])
        self.project = None
        if stride != 1 or in_ch != out_ch:
            self.project = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False),
                                         nn.BatchNorm2d(out_ch))

    def forward(self, x):
        out = x
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            out = norm(conv(out))
            if i < 2:
                out = F.relu(out, inplace=True)
        identity = x if self.project is None else self.project(x)
        return F.relu(torch.add(out, identity))


class ModuleListResNet50(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.ModuleList([nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64),
                                   nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)])
        self.stages = nn.ModuleList()
        in_ch = 64
        for width, count, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            self.stages.append(nn.ModuleList(
                [AddBottleneck(in_ch if i == 0 else width * 4, width, stride if i == 0 else 1)
                 for i in range(count)]))
            in_ch = width * 4
        self.fc = nn.Linear(2048, 1000)

    def forward(self, x):
        for layer in self.stem:
            x = layer(x)
        for stage in self.stages:
            for block in stage:
                x = block(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


# ----- data-dependent control flow: torch.fx cannot trace it -----------------------------------


class DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x):
        out = self.conv(x)
        if out.sum() > 0:
            out = out + x.repeat(1, 3, 1, 1)[:, :8]
        return out
