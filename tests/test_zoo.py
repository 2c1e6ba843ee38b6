"""Every zoo network (tests/zoo_networks.py, each written after a public implementation) is
analysed without a traceback, with exact parameters, the depth and dashed shortcuts derived by
hand below, and a closest-preset sentence that holds when checked by rebuilding:

- "equivalent to X": the model built from the recovered spec has exactly the user's parameter
  shapes (the spec is X's own);
- "like X, with: ...": X's spec with every listed spec difference applied (`Match.rebuilt`) has
  the user's parameter count once the parameters of what no spec can express are added;
- "not close to any ResNet preset": what the network is made of.

Depths follow the paper's count as this tool applies it (REFERENCE.md): one for the stem (the
convs before the first block count as one, as ResNet-C's deep stem does), the weighted layers on
each block's residual branch (attention branches beside it not counted; parallel convs joined by
a concatenation or a sum counted once), weighted layers between blocks, and the head.
Dashed: blocks whose shortcut changes the tensor's shape.
"""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings

import zoo_networks as zoo
from inspector import build_model, get_preset
from inspector.analysis import analyze
from inspector.facts import compute_facts
from strategies import small_designs

# (factory, input size, depth, dashed, closest: "=preset" equivalent, "~preset" like, "!" not
# close, phrases the sentence or the explanation must hold), with the derivation beside each.
ZOO = [
    # 1 + 2 x (2+2+2+2) + 1; layer2-4's first blocks project (stride 2, wider)
    (zoo.kuangliu_resnet18, 32, 18, 3, "~resnet18", ["a 3x3 stride-1 stem", "10 classes"]),
    # 1 + 3 x (3+4+6+3) + 1; layer1's first block too (64 -> 256)
    (zoo.kuangliu_resnet50, 32, 50, 4, "~resnet50", []),
    # as ResNet-18; no BN after the last block: 2 x 512 parameters fewer than the preset
    (zoo.kuangliu_preact_resnet18, 32, 18, 3, "~preact_resnet18",
     ["no norm and activation after the last block (-1,024 params)"]),
    # 1 + 3 x (3+3+3) + 1; each stage's first block projects (64 -> 256, then /2 twice)
    (zoo.KLResNeXt29, 32, 29, 3, "~resnet20", ["2 groups in the 3x3 convs"]),
    # pre-activation ResNet-18; SE convs beside the path: 2 x (C x C/16 + biases) per block
    (zoo.kuangliu_senet18, 32, 18, 3, "~preact_resnet18",
     ["squeeze-and-excitation (reduction 16) branch in every block"]),
    # RegNetY-400MF (kuangliu, design in a dict): 1 + 3 x (1+2+7+12) + 1 = 68; stage 1
    # projects (64 -> 48), the others change width and stride
    (zoo.KLRegNet, 32, 68, 4, "~resnet", ["squeeze-and-excitation"]),
    # 1 + 3 x (2+2+2+2) + 1; every shortcut hands d of the input's channels to the sum
    (zoo.KLDPN26, 32, 26, 8, "!", ["dual-path blocks"]),
    # 1 (stem) + 3 x 6 residual blocks + 6 (the two stride-2 blocks' convs) + 2 (1x1 to 320, fc);
    # the 32 -> 16 and 16 -> 24 blocks project
    (zoo.KLMobileNetV2, 32, 27, 2, "!", ["depthwise"]),
    # no sums: every conv counts: 1 + 6 x 2 (dense layers) + 1 (transition) + 1 (fc)
    (zoo.KLDenseNet, 32, 15, 0, "!", ["no residual sums (its paths join by concatenation)"]),
    # 6n + 2 with n = 3 and 9; option A where the stage changes (two zero-padding shortcuts)
    (zoo.akamaster_resnet20, 32, 20, 2, "=resnet20", []),
    (zoo.akamaster_resnet56, 32, 56, 2, "=resnet56", []),
    # ResNet-18 for CIFAR-100 (ReLU modules made in forward)
    (zoo.weiaicunzai_resnet18, 32, 18, 3, "~resnet18", ["100 classes"]),
    # SE-ResNet-18 for CIFAR-100 (weiaicunzai): Linear SE beside the branch; biased convs
    (zoo.weiaicunzai_seresnet18, 32, 18, 3, "~resnet18",
     ["squeeze-and-excitation (reduction 16) branch in every block", "convs with biases"]),
    # the same with stochastic depth: evaluation scales the branch, no layer more
    (zoo.weiaicunzai_stochastic_depth18, 32, 18, 3, "~resnet18",
     ["a residual branch scaled by a constant in every block"]),
    # WRN-16-4: 1 + 2 x (2+2+2) + 1 = 14; 16 convs with the 3 projections
    (zoo.WeiWideResNet, 32, 14, 3, "~preact_resnet18", ["WRN-16-4 by the Wide ResNet count",
                                                         "convs with biases"]),
    # WRN-28-10: 1 + 2 x (4+4+4) + 1 = 26; 1 + 24 + 3 projections = 28 convs
    (zoo.XtWideResNet, 32, 26, 3, "~preact_resnet18", ["WRN-28-10 by the Wide ResNet count"]),
    # functional WRN-16-2: 14 by the paper, 16 convs
    (zoo.FunctionalWRN, 32, 14, 3, "~preact_resnet18", ["WRN-16-2 by the Wide ResNet count"]),
    # SE-ResNet-50: 50; SE params 2 x C^2 / 16 summed: (256^2 x 3 + 512^2 x 4 + 1024^2 x 6
    # + 2048^2 x 3) / 8 = 2,514,944
    (zoo.moskomule_se_resnet50, 64, 50, 4, "~resnet50",
     ["squeeze-and-excitation (reduction 16) branch in every block (+2,514,944 params)"]),
    # SE-ResNet-20: 20; SE params (16^2 + 32^2 + 64^2) x 3 / 8 = 2,016; conv+bn downsample
    (zoo.CifarSEResNet, 32, 20, 2, "~resnet20",
     ["squeeze-and-excitation (reduction 16) branch in every block (+2,016 params)"]),
    (zoo.torchvision_resnet18, 224, 18, 3, "=resnet18", []),
    (zoo.torchvision_resnet50, 224, 50, 4, "=resnet50", []),
    (zoo.torchvision_resnext50_32x4d, 224, 50, 4, "=resnext50_32x4d", []),
    # 1 + 3 x (3+4+23+3) + 1
    (zoo.timm_resnext101_32x4d, 224, 101, 4, "~resnext101_32x8d",
     ["width per group 4 instead of 8"]),
    (zoo.timm_resnet50d, 224, 50, 4, "=resnet50d", []),
    (zoo.timm_resnet50t, 224, 50, 4, "~resnet50d",
     ["stem convs of 24, 32, 64 channels instead of 32, 32, 64"]),
    (zoo.timm_seresnet50, 224, 50, 4, "~resnet50", ["squeeze-and-excitation (reduction 16)"]),
    (zoo.timm_ecaresnet50d, 224, 50, 4, "~resnet50d", ["efficient channel attention"]),
    # the blur pool is a fixed filter (a buffer), not a weighted layer
    (zoo.timm_resnetblur18, 64, 18, 3, "~resnet18",
     ["3 convs with fixed filters", "input 64x64"]),  # blur pools in layer2-4's first blocks
    # pre-activation bottlenecks, 50; each stage's first block projects
    (zoo.TimmResNetV2, 64, 50, 4, "~preact_resnet", ["bottleneck blocks"]),
    # BiT: the same with weight-standardised convs (still weighted layers) and GroupNorm
    (zoo.timm_resnetv2_50x1_bit, 64, 50, 4, "~preact_resnet",
     ["GroupNorm layers in place of batch norm"]),
    # RegNetY: 1 + 3 x (1+1+4+7) + 1 = 41; every stage's first block projects
    (zoo.TimmRegNetY, 64, 41, 4, "~resnet50", ["squeeze-and-excitation"]),
    # Res2Net-50: the three split 3x3 convs stand where one 3x3 stands: 50. The longest path
    # passes the three in a row in the 12 'normal' blocks (1 + 3 + 1 = 5) and one of them in
    # the 4 'stage' blocks (their splits run side by side: 3): 1 + 12 x 5 + 4 x 3 + 1 = 74
    (zoo.res2net50_26w_4s, 64, 50, 4, "~resnet50",
     ["the longest path passes 74 weighted layers", "Res2Net's splits"]),
    # ResNeSt-50: split attention beside the path: 50
    (zoo.resnest50_like, 64, 50, 4, "~resnet50d", ["split attention"]),
    # SK-ResNet-18: the 3x3 and 5x5 branches are one layer; their attention not counted
    (zoo.sk_resnet18, 32, 18, 3, "~resnet18", ["selective-kernel"]),
    (zoo.cbam_resnet18, 64, 18, 3, "~resnet18", ["convolutional block attention"]),
    (zoo.eca_resnet18, 64, 18, 3, "~resnet18", ["efficient channel attention"]),
    # pre-activation ResNet-20 (bearpaw): 6n + 2; two projections
    (zoo.BPPreResNet, 32, 20, 2, "~preact_resnet", []),
    (zoo.BPResNeXt29, 32, 29, 3, "~resnet20", ["4 groups in the 3x3 convs"]),
    # ResNet-9 (cifar10-fast): prep and layer1's conv before the first block are the stem (1);
    # 2 x (1+1) in the two residuals; layer2's and layer3's convs between them (2); the linear
    # (1): 8. The name's 9 counts the stem's two convs apart.
    (zoo.page_resnet9, 32, 8, 0, "~tutorial_resnet10", ["2 weighted layers between blocks"]),
    (zoo.groupnorm_silu_resnet18, 64, 18, 3, "~resnet18",
     ["GroupNorm layers in place of batch norm", "SiLU activations in place of ReLU"]),
    # not ResNets; depths as the same rules count them:
    # MobileNetV2: stem conv and the two blocks before the first sum (6 convs, one), 4 residual
    # blocks x 3, the two stride-2 blocks' 3 convs each, the 1x1 to 1280 and the fc: 21
    (zoo.TVMobileNetV2, 64, 21, 0, "!", ["depthwise"]),
    # EfficientNet: stem and the first two MBConvs (6 convs, one; SE beside), 2 residual MBConvs
    # x 3, the stride-2 MBConv between (3), conv_head and the classifier (2): 12
    (zoo.EfficientNetLike, 64, 12, 0, "!", ["depthwise"]),
    # ConvNeXt: patchify conv, 6 blocks x (7x7 depthwise + 2 linears), 3 downsampling convs, fc
    (zoo.ConvNeXtLike, 64, 23, 0, "!", ["depthwise"]),
    # ViT: patch embedding, 4 residual blocks x 2 linears, the head: 10
    (zoo.SmallViT, 32, 10, 0, "!", ["without a conv on their residual branch"]),
]


def shapes(model) -> Counter:
    return Counter(tuple(p.shape) for p in model.parameters())


@pytest.mark.parametrize("factory, size, depth, dashed, closest, phrases", ZOO,
                         ids=[case[0].__name__ for case in ZOO])
def test_zoo_network(factory, size, depth, dashed, closest, phrases):
    model = factory()
    result = analyze(model, (3, size, size))
    params = sum(p.numel() for p in model.parameters())
    assert result.params == params
    assert result.depth == depth, result.explanation
    assert sum(block.dashed for block in result.blocks) == dashed
    for view in ("block", "layer"):  # drawn like any network, the same shortcuts dashed
        graph = result.graph(view)
        assert sum(edge.dashed for edge in graph.shortcut_edges()) == dashed
    match = result.closest()
    sentence = match.sentence
    text = f"{sentence} | {result.explanation}"
    for phrase in phrases:
        assert phrase in text, (phrase, text)
    if match.equivalent or sentence.startswith("equivalent"):
        # said only when the recovered spec rebuilds every parameter shape exactly
        assert match.spec is not None and shapes(build_model(match.spec)) == shapes(model)
        assert closest == f"={match.preset}", sentence
    elif closest == "!":
        assert not match.close and sentence.startswith("not close to any ResNet preset: ")
    else:
        assert sentence.startswith(f"like {closest[1:]}"), sentence
        assert match.rebuilt is not None, sentence
        # X with every listed spec difference, plus what no spec expresses: the user's count
        rebuilt = compute_facts(match.rebuilt).params
        assert rebuilt + sum(extra for _, extra in match.beyond_spec) == params, sentence
        assert sum(p.numel() for p in build_model(match.rebuilt).parameters()) == rebuilt


def test_wide_resnet_28_10_has_the_published_size():
    """WRN-28-10 has about 36.5M parameters (Zagoruyko & Komodakis; REFERENCE.md)."""
    model = zoo.XtWideResNet()
    assert 36.4e6 < analyze(model, (3, 32, 32)).params < 36.6e6


@pytest.mark.parametrize("factory, published", [
    (zoo.res2net50_26w_4s, 25.70e6),  # Res2Net's model table: Res2Net-50 26w x 4s, 25.70M
    # SENet paper, Table 2: SE-ResNet-50, 28.09M (its SE layers have biases, as timm's do)
    (zoo.timm_seresnet50, 28.09e6),
])
def test_published_sizes_of_attention_and_split_families(factory, published):
    assert abs(analyze(factory(), (3, 64, 64)).params - published) < 0.01e6


def test_res2net_blocks_keep_their_inner_sums():
    result = analyze(zoo.res2net50_26w_4s(), (3, 64, 64))
    assert len(result.blocks) == 16 and len(result.facts.stages) == 4
    normal = [b for b in result.blocks if b.index > 0]
    assert all(len(b.inner_sums) == 2 for b in normal)  # scale 4: two hierarchical sums
    assert all(b.main_layers == 3 and b.longest_path == 5 for b in normal)


def test_an_se_block_says_what_its_attention_adds():
    result = analyze(zoo.moskomule_se_resnet50(), (3, 64, 64))
    block = result.blocks[0]  # conv2_1: SE on 256 channels, 2 x 256 x 16 weights, no biases
    assert block.attention == "squeeze-and-excitation (reduction 16)"
    assert block.attention_params == 2 * 256 * 16
    node = next(n for n in result.graph("block").nodes if n.title == "conv2_1")
    assert "with squeeze-and-excitation (reduction 16), +8,192 params" in node.lines


def test_dpn_stages_as_its_authors_made_them():
    result = analyze(zoo.KLDPN26(), (3, 32, 32))
    assert [s.blocks for s in result.facts.stages] == [2, 2, 2, 2]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_designs(groups=(1, 2)))
def test_every_sentence_about_a_built_design_holds_when_rebuilt(spec):
    """Any design this tool builds, analysed as a user's model: "equivalent to X" only when X's
    spec rebuilds every parameter shape; "like X" lists what rebuilds the exact count."""
    model = build_model(spec)
    result = analyze(model, (spec.in_channels, spec.input_size, spec.input_size))
    match = result.closest()
    params = sum(p.numel() for p in model.parameters())
    if match.equivalent:
        preset = build_model(get_preset(match.preset).replace(input_size=spec.input_size))
        assert shapes(preset) == shapes(model), match.sentence
    elif match.close and match.rebuilt is not None:
        extra = sum(p for _, p in match.beyond_spec)
        assert compute_facts(match.rebuilt).params + extra == params, match.sentence
    if match.spec is not None:  # a recovered spec is the design itself, shape for shape
        assert shapes(build_model(match.spec)) == shapes(model)
