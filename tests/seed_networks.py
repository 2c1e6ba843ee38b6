"""The two networks of the project's source posts, rebuilt as their authors wrote them.

Seed 001 (a tutorial's "ResNet18"): a 3x3 stride-3 unpadded stem, four basic blocks with one block
per stage, a 1x1 projection only where the channels change, no ReLU after the sum, convs with
their default bias, on a 32x32 input. Its last block, ResBlk(512, 512, stride=2), puts the stride
on the main path only, so on 2x2 maps it adds a 512x1x1 branch to a 512x2x2 identity.

Seed 002 (a CIFAR-10 re-implementation of the paper's section 4.2, n = 7): every conv keeps its
default bias and is followed by a BatchNorm; stages 2 and 3 start with a 2x2 stride-2 conv; each
block's list holds [conv-BN-ReLU, conv, BN] but `forward` runs only the first two entries
(`range(len(repeat_arch))`), so the BatchNorm before each sum is defined and never used. Its author
wrote "This may not be right." above `forward`.

Class names are the posts' own: the depth-in-the-name rule reads them. The weight initialisation
and the training code of the posts are left out: they do not change the architecture.
"""

import torch
import torch.nn.functional as F
from torch import nn


# ----- seed 001 -------------------------------------------------------------------------------


class ResBlk(nn.Module):
    def __init__(self, ch_in, ch_out, stride=1):
        super().__init__()
        self.con1 = nn.Conv2d(ch_in, ch_out, kernel_size=3, stride=stride, padding=1)
        self.bn1 = nn.BatchNorm2d(ch_out)
        self.con2 = nn.Conv2d(ch_out, ch_out, kernel_size=3, stride=1, padding=1)
        self.bn2 = nn.BatchNorm2d(ch_out)
        self.extra = nn.Sequential()
        if ch_out != ch_in:
            self.extra = nn.Sequential(
                nn.Conv2d(ch_in, ch_out, kernel_size=1, stride=stride),
                nn.BatchNorm2d(ch_out))

    def forward(self, x):
        out = F.relu(self.bn1(self.con1(x)))
        out = self.bn2(self.con2(out))
        out = self.extra(x) + out
        return out


class ResNet18(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=3, stride=3, padding=0),
            nn.BatchNorm2d(64))
        self.blk1 = ResBlk(64, 128, stride=2)
        self.blk2 = ResBlk(128, 256, stride=2)
        self.blk3 = ResBlk(256, 512, stride=2)
        self.blk4 = ResBlk(512, 512, stride=2)
        self.outlay = nn.Linear(512 * 1 * 1, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = self.blk1(x)
        x = self.blk2(x)
        x = self.blk3(x)
        x = self.blk4(x)
        x = F.adaptive_avg_pool2d(x, [1, 1])
        x = x.view(x.size(0), -1)
        x = self.outlay(x)
        return x


# ----- seed 002 -------------------------------------------------------------------------------


class Flatten(nn.Module):
    def forward(self, x):
        N = x.shape[0]
        return x.view(N, -1)


class ResidualBlock(nn.Module):
    def __init__(self, params):
        super().__init__()
        self.ifPoolConnect = params['ifPoolConnect']
        self.input_channel = params['input_channel']
        self.repeat_arch = params['repeat_arch']
        self.repeat_times = params['repeat_times']
        self.poolLayer = torch.nn.ModuleList()
        self.ResBlockModules = torch.nn.ModuleList()
        last = self.repeat_arch[len(self.repeat_arch) - 1][1]
        if self.ifPoolConnect:
            self.poolLayer.append(torch.nn.Conv2d(self.input_channel, last, kernel_size=2,
                                                  stride=2))
        for i in range(self.repeat_times):
            partModule = torch.nn.ModuleList()
            first_in = last if self.ifPoolConnect else self.input_channel
            kernel, width = self.repeat_arch[0]
            partModule.append(self.getConvBNReLu(first_in, width, kernel, (kernel - 1) // 2))
            for partLayerCnter in range(1, len(self.repeat_arch)):
                kernel, width = self.repeat_arch[partLayerCnter]
                before = self.repeat_arch[partLayerCnter - 1][1]
                if partLayerCnter == len(self.repeat_arch) - 1:
                    partModule.append(torch.nn.Conv2d(before, width, kernel,
                                                      padding=(kernel - 1) // 2))
                    partModule.append(torch.nn.BatchNorm2d(width))
                else:
                    partModule.append(self.getConvBNReLu(before, width, kernel, (kernel - 1) // 2))
            self.ResBlockModules.append(partModule)

    def getConvBNReLu(self, channel_in, channel_out, kernel_size, _padding=0):
        return torch.nn.Sequential(torch.nn.Conv2d(channel_in, channel_out, kernel_size,
                                                   padding=_padding),
                                   torch.nn.BatchNorm2d(channel_out),
                                   torch.nn.ReLU())

    def forward(self, x):
        # This may not be right.
        if self.ifPoolConnect:
            x = self.poolLayer[0](x)
        for i in range(self.repeat_times):
            _x = x.clone()
            for partLayerCnter in range(0, len(self.repeat_arch)):
                x = self.ResBlockModules[i][partLayerCnter](x)
            x = _x + x
            x = torch.nn.functional.relu(x)
        return x


class ResidualNet(nn.Module):
    def __init__(self, repeat_times=7):
        super().__init__()
        param1 = {'ifPoolConnect': False, 'input_channel': 16,
                  'repeat_arch': [[3, 16], [3, 16]], 'repeat_times': repeat_times}
        param2 = {'ifPoolConnect': True, 'input_channel': 16,
                  'repeat_arch': [[3, 32], [3, 32]], 'repeat_times': repeat_times}
        param3 = {'ifPoolConnect': True, 'input_channel': 32,
                  'repeat_arch': [[3, 64], [3, 64]], 'repeat_times': repeat_times}
        self.ResNetModule = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, kernel_size=3, padding=1),
            torch.nn.BatchNorm2d(16),
            torch.nn.ReLU(),
            ResidualBlock(param1),
            ResidualBlock(param2),
            ResidualBlock(param3),
            torch.nn.AvgPool2d(8, 1),
            Flatten(),
            torch.nn.Linear(64, 10))

    def forward(self, x):
        return self.ResNetModule(x)
