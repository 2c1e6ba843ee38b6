"""Published figures the tests compare against, written once (see ../shared/REFERENCE.md)."""

# torchvision.models documentation: parameters and GFLOPS (billions of mult-adds at 224x224).
TORCHVISION = {
    "resnet18": (11_689_512, 1.81),
    "resnet34": (21_797_672, 3.66),
    "resnet50": (25_557_032, 4.09),
    "resnet101": (44_549_160, 7.80),
    "resnet152": (60_192_808, 11.51),
    "resnext50_32x4d": (25_028_904, 4.23),
    "resnext101_32x8d": (88_791_336, 16.41),
    "wide_resnet50_2": (68_883_240, 11.40),
    "wide_resnet101_2": (126_886_696, 22.75),
}
#: The plain ResNets of the paper's ImageNet table, the ones the table and trace tests sweep.
RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
# timm's model cards for the variants torchvision does not have.
TIMM_PARAMS = {"resnet200": 64_673_832, "resnet50d": 25_576_264}
# He et al. 2015, Table 6: parameters of the CIFAR-10 ResNets, in millions as printed.
CIFAR_TABLE6 = {"resnet20": 0.27, "resnet32": 0.46, "resnet44": 0.66, "resnet56": 0.85,
                "resnet110": 1.7, "resnet1202": 19.4}
