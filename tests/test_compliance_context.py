"""语境判断: a lexicon word that is denied, asked, named as a word, refuted, a title, compared within
one's own shop, an opinion or backed by a checkable basis is no claim (or only advice).

Specified on the packaged lexicon's ``context`` word lists (data users can edit), one line per case."""

from __future__ import annotations

import textwrap

import pytest

from liveops.compliance import Lexicon, LexiconError, Scanner, scan


def verdict(text: str) -> tuple[set[str], set[str], set[str]]:
    """(categories flagged, categories lowered to warn by context, context kinds that cleared a match)."""
    r = scan([text])[0]
    warned = {h.category for h in r.hits if h.severity == "warn" and h.explanation.startswith("语境")}
    return r.flagged, warned, {c.allowed_by for c in r.cleared if c.allowed_by.startswith("context.")}


def assert_judged(clean: list[tuple[str, str]], claims: list[tuple[str, str]]) -> None:
    """Each (text, category): not flagged for it when clean, flagged when a claim — one batch, every miss named."""
    cases = [*((t, c, False) for t, c in clean), *((t, c, True) for t, c in claims)]
    results = scan([t for t, _, _ in cases])
    wrong = [(t, c, want) for (t, c, want), r in zip(cases, results, strict=True) if (c in r.flagged) != want]
    assert not wrong, wrong


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("我可不敢说永不褪色，合金配饰少碰水就行", "negation"),
        ("这个价不是全网最低，大家可以去比", "negation"),
        ("我们不加微信，有事平台私信客服", "negation"),
        ("顶级这个词我不用，这就是标准的桑蚕丝", "mention"),
        ("弹幕：哪个色号最显白", "question"),
        ("弹幕：你们是不是找人刷的销量", "doubt"),
        ("话术审核：“全网最低价”删掉，改成直播间专享价", "mention"),
        ("终身保修指的是免费维修人工费，零件另算", "mention"),
        ("话术：禁用词：第一、最好、顶级、国家级，口播前自查", "mention"),  # a list under a header
        ("运营备注：高仿、A货、原单这类词不能出现在标题和口播里", "mention"),  # a list, then the refusal
        ("场控：公屏出现微信号、QQ号立即删除并禁言", "refutation"),
        ("刚才说的全网最低那是我口误，我收回", "refutation"),
        ("运营备注：不得用“穷鬼”“韭菜”之类的词称呼观众", "mention"),
        ("凡是说是特供酒的基本都是骗人的", "refutation"),
        ("评论区有人说加微信买车更便宜，那是骗子，大家别理他", "refutation"),
        ("千万别加任何自称客服的微信，售后只在平台里处理", "refutation"),
        ("这本书叫《最好的我们》，正版带签名卡", "title"),
        ("这个牌子的注册商标就叫第一锅，是名字不是排名", "title"),
        ("这是我们店今年卖得最好的一款保温杯", "own_scope"),
        ("我们家三款面霜里这款最滋润，适合干皮", "own_scope"),
        ("这几个颜色里，我觉得雾霾蓝最显白", "own_scope"),
        ("我个人觉得雾霾蓝最好看，不过黑色更耐脏", "opinion"),
        ("弹幕：主播 你们家最好卖的是哪款", "question"),  # the question word ends the clause
        ("有人说这个价全网最低的都是骗子，我们只说直播间专享", "refutation"),  # the phrase is refuted
    ],
)
def test_no_claim_is_cleared(text: str, kind: str) -> None:
    flagged, _, kinds = verdict(text)
    assert not flagged, text
    assert f"context.{kind}" in kinds, (text, kinds)


@pytest.mark.parametrize(
    "text",
    [
        "全网最低价，错过今天再等一年",
        "这个能治失眠吗？能！吃一个月就好",  # asked, then answered yes
        "你知道为什么我们是全网最低吗",  # rhetorical
        "我们全网最低对不对",  # a tag question asks for agreement
        "没有比这更便宜的了",  # 没有比…更: the negation is the claim
        "这不就是全网最低吗",  # 不就是…吗 affirms
        "我们家的面膜是全网最好的",  # own shop named, the whole market compared
        "我觉得这是全网最好的",  # an opinion about the whole market is still a claim
        "弹幕：主播能加个微信吗 想私下拿几件",  # asking for off-platform trade is a solicitation
        "你是不是傻逼",  # an insult asked as a question
        "别犹豫了，加我微信",
        "有人说我们是全网最低，不是吹的",  # reported, then confirmed — not refuted
        "谁说国货不能做到第一？",
        "好多人问能不能治失眠，当然能",  # asked, answered yes, in the streamer's own words
        "这个价你在哪里都买不到，全网最低",  # 哪里都 is not a question
        "团购页面写六十八 餐位费二十到店再收",  # a fee kept back until the buyer arrives
        "我说不了最好，但它就是全网最低",  # the second claim is not denied
        "高仿、A货、原单都有，跟专柜一模一样",  # a list of what is on sale
        "全网最低、第一、顶级 都给你们了",
    ],
)
def test_claims_stay_flagged(text: str) -> None:
    flagged, _, _ = verdict(text)
    assert flagged, text


def test_medical_and_finance_are_lowered_to_warn_never_cleared() -> None:
    """Never exemptable: a denied medical claim stays visible as advice, and is not a flag."""
    for text, cat in [
        ("防癌这种话我们不说，它就是一款普通的杂粮粉", "medical_claim"),
        ("弹幕：这个茶真能降血压吗", "medical_claim"),
        ("这款面膜没有祛斑功能，长斑了去看皮肤科", "medical_claim"),
        ("我们不承诺保本，理财有风险", "finance_claim"),
        ("说吃了能治病的都是骗子，咱们这个就是普通零食", "medical_claim"),
        ("你说这个橙子能不能治感冒 它就是个水果", "medical_claim"),  # 能不能 ends in the hit
        ("有朋友问吃这个能不能替代降压药 绝对不能 药得按医生说的吃", "medical_claim"),  # answered no
        ("有甲亢的朋友 这个海带含碘高 少吃", "medical_claim"),  # a disease named to warn people off
        ("这个祛斑霜有国妆特字批文 用的时候避开眼周", "medical_claim"),  # a registered special-use claim
        ("这款鱼油是保健食品 批准的功能是辅助降血脂 批准文号在详情页", "medical_claim"),
        ("牙龈出血要去看牙医 这款牙膏就是清洁", "medical_claim"),
    ]:
        flagged, warned, kinds = verdict(text)
        assert cat not in flagged and cat in warned, text
        assert not any(k for k in kinds), text  # not cleared: shown as warn


def test_packaged_lexicon_traps() -> None:
    """Words that only look like a claim: a style, a wood, a diet meal, and two words joined across a pause
    once the space is gone (十包 夜用 is not 包夜)."""
    assert_judged(
        [
            ("治愈系的暖黄小夜灯", "medical_claim"),
            ("北美白橡实木餐桌 一米六", "medical_claim"),
            ("鸡胸肉一袋一百克 做减脂餐可以用", "medical_claim"),
            ("卫生巾一箱十包 夜用四十二厘米", "vulgar"),
            ("山茶油炒菜不怎么冒烟 油温也不用烧太高", "prohibited"),
            ("冰糯种翡翠手镯是缅甸A货 送证书", "prohibited"),  # A货 grades jade as untreated
            ("评论区让你私下转账的千万别转 骗子很多", "vulgar"),  # a scam warning, not an insult
            ("做了支架一定问主治医生", "medical_claim"),
            ("这个炸锅做鸡翅最好吃", "absolute_claim"),  # the best use of the goods, a usage tip
            ("公考课第一阶段是行测 第二阶段申论", "absolute_claim"),
            ("钙片最好晚饭后吃", "absolute_claim"),
            ("运营备注：好评不返现，差评不删，有问题让客服处理", "false_data"),
            (
                "奶粉环节必须说“母乳是婴儿最好的食物”",
                "absolute_claim",
            ),  # the statement formula ads must carry
        ],
        [
            ("用了一个月鼻炎就治愈了", "medical_claim"),
            ("这个茶减脂效果特别好", "medical_claim"),
            ("大牌包包A货 跟专柜一样", "prohibited"),
            ("你就是个骗子", "vulgar"),
            ("好评返现五块 截图发客服", "false_data"),
            ("这是全网最好吃的牛肉干", "absolute_claim"),
        ],
    )


def test_release_6_traps_and_claims() -> None:
    """Composition spelled out, pairing and water-temperature tips, a viewer's suspicion of bots, and a
    scam warning are clean; an insult that happens to contain 是骗子, regional slurs, gambling and phone
    refurbishing are not."""
    assert_judged(
        [
            ("这条床单百分之百新西兰羊毛 不是混纺", "absolute_claim"),
            ("这款乌龙泡的时候水温九十度以上最好", "absolute_claim"),
            ("这个干白配海鲜最好", "absolute_claim"),
            ("弹幕：水军又来了 别理", "false_data"),
            ("有人自称客服让你加微信的都是骗子", "vulgar"),
            ("弹幕：主播 那个说加v便宜的是骗子吧", "vulgar"),
            ("白色只剩最后五件 其他颜色还有", "false_urgency"),
            ("冻干就一种原料 牛肉百分之百", "absolute_claim"),
            ("哺乳期妈妈记住 母乳喂养对宝宝最好", "absolute_claim"),
            ("主播说的第一是我们店铺内的排名 别误会", "absolute_claim"),
        ],
        [
            ("弹幕：你全家都是骗子", "vulgar"),
            ("弹幕：东北人就是骗子多", "vulgar"),
            ("弹幕：棋牌 充五十送一百 提现秒到", "prohibited"),
            ("这台是海外版 我们帮你刷成国行 跟行货一样", "prohibited"),
            ("这个配方最好 别家都比不了", "absolute_claim"),
            ("直播间显示的销量数字是我们自己改的", "false_data"),
            ("弹幕：四川人都是骗子", "vulgar"),
            ("这个貔貅摆在店里 偏财运挡都挡不住", "prohibited"),
        ],
    )
    # a health food's filed function, given with the statutory notice, is advice to check, not a flag
    r = scan(["这款益生菌是保健食品 备案功能是有助于调节肠道菌群 本品不能代替药物"])[0]
    assert "medical_claim" not in r.flagged
    assert any(h.category == "medical_claim" and h.severity == "warn" for h in r.hits)


def test_a_viewer_asking_about_their_own_illness_is_advice_not_a_claim() -> None:
    """self_report: an illness the speaker or their family has, in a line that asks something, is shown as
    advice (medical never passes by context); a testimonial — the illness followed by what using the goods
    did — stays flagged, question or not."""
    for text in [
        "弹幕：这个红枣我外婆能吃吗 她贫血",
        "弹幕：这个茶能喝吗 我老公痛风",
        "弹幕：孩子有湿疹 选哪个面霜",
        "弹幕：我婆婆得过甲状腺结节 这个海苔能吃吗？",
    ]:
        r = scan([text])[0]
        assert "medical_claim" not in r.flagged, text
        assert any(h.category == "medical_claim" and h.severity == "warn" for h in r.hits), text
    for text in [
        "我有鼻炎 用了这个喷雾就通了 要不要试试",
        "我爸高血压 吃了三个月降下来了 你们信不信",
        "弹幕：我妈糖尿病好几年了 主播家的茶真不错",
        "我自己失眠十年 就靠这个枕头睡着的 你们要吗",
    ]:
        assert "medical_claim" in scan([text])[0].flagged, text


def test_release_7_traps_and_claims() -> None:
    """A disease said to be unrelated (跟…没关系), 养生 and 减肥 as plain nouns or audiences, 别拿它当…, a
    counterfeit grade (顶级复刻) and a gambling bonus (送百分百) make no claim of their own category; the
    lure and the review bribe flag off-platform and false data, not price and DM. 没关系 alone (never mind)
    denies nothing."""
    assert_judged(
        [
            ("这款足贴就是发热 跟失眠没关系", "medical_claim"),
            ("楼下新开的养生馆做足疗 环境不错", "medical_claim"),
            ("减肥的朋友看看热量表 这款一块八十千卡", "medical_claim"),
            ("别拿它当降压的 它就是个茶", "medical_claim"),
            ("弹幕：高仿 顶级复刻 要的私", "absolute_claim"),
            ("弹幕：首充送百分百 提现秒到", "absolute_claim"),
            ("想要出厂价的 加我威信", "price_fraud"),
            ("要好评返现的私信我", "off_platform"),
            ("弹幕：这直播间全是托吧", "vulgar"),  # a viewer's suspicion, not an insult
            ("差评我们从来不删 有问题售后处理", "false_data"),
            ("这款卷发棒有三档 头发细的用第一档", "absolute_claim"),
            ("弹幕：周末要预约吗", "vulgar"),
        ],
        [
            ("弹幕：高仿 顶级复刻 要的私", "prohibited"),
            ("弹幕：首充送百分百 提现秒到", "prohibited"),
            ("想要出厂价的 加我威信", "off_platform"),
            ("要好评返现的私信我", "false_data"),
            ("减肥不用节食 喝这个一个月瘦十斤", "medical_claim"),
            ("偷偷用爸妈手机给主播刷礼物没关系", "prohibited"),
            ("这个价就是批发价 别处找不到", "price_fraud"),
            ("顶级面料 摸着就不一样", "absolute_claim"),
            ("这款扫地机 它说第二 没人敢说第一", "absolute_claim"),
            ("有差评的找我 我帮你们删掉", "false_data"),
        ],
    )


def test_a_denial_then_the_claim_made_another_way_and_questions_that_follow_questions() -> None:
    """implied: 不敢说全网最低 反正你别处找不到更低的 keeps the flag in every category, a script that says
    to claim it anyway (实际没…) too, while 不是最便宜的 但是售后敢保证 stays clean; a clause after a question
    that is itself a question (有鉴定证书吗) does not answer it yes; a viewer asking whether the room pays for
    reviews commits nothing; an honest pass rate is no promise, a high one is."""
    assert_judged(
        [
            ("弹幕：这表是不是A货？有鉴定证书吗", "prohibited"),
            ("弹幕：你们有晒图返现吗", "false_data"),
            ("我们不是最便宜的 但是售后我们敢保证", "absolute_claim"),
            ("这门课去年官方公布的通过率四成左右 量力而行", "finance_claim"),
        ],
        [
            ("这个价我不敢说全网最低 反正你别处找不到更低的", "absolute_claim"),
            ("运营备注：详情页写“权威专家推荐”，实际没请专家", "authority_claim"),
            ("我们往届通过率百分之九十六 全省最高", "finance_claim"),
            ("用了这个枕头 我就不用再吃安眠药了", "medical_claim"),
        ],
    )


def test_release_8_questions_answers_referrals_and_sign_offs() -> None:
    """A viewer asking for a WeChat or whether a bracelet is 开光 asks, unless the line says they mean to do it
    (想私下拿几件, 要跟专柜一样的); a question answered no (有没有开光 没有) denies it; a disease named to send
    people to a doctor is advice, but not when the doctor endorses the goods or is out-done by them (比去医院还
    管用); an offer signed off with 私 / 私聊 / 主页见 leads off the platform; 最好 as 'had better' is advice;
    a doctor's endorsement alone is an authority claim (the medical hit yields to it); a sales figure said
    out loud is false data (the guide), checkable on the platform's own page it is advice; a viewer comparing
    prices with another platform, or a code scanned to verify the goods, leads nobody away — 别在这买 does;
    yyds alone is praise (advice), said of the goods it is a claim; a fee added after the price is hidden;
    a claim followed by 真的假的 is doubted, by 更正…不准确 corrected; 美白 and 防脱 alone are filed functions
    (advice), their promised results are claims; 坏果百分百包赔 is an after-sales rule; a review note that
    records a violation and its correction (复盘…已严肃处理) or a rule that lists words to forbid them (禁说…)
    claims nothing, unless the claim is then made anyway (不许说特供了哈 反正…)."""
    assert_judged(
        [
            ("弹幕：主播有没有微信 想问一下尺码", "off_platform"),
            ("弹幕：有开光的那种吗，送我妈", "prohibited"),
            ("问这个手串有没有开光 没有 就是普通的檀木", "prohibited"),
            ("有人问能不能代购香烟，不能，烟草我们一律不卖", "prohibited"),
            ("这个泡脚桶就是泡脚 泡着舒服 治病的事儿去找大夫", "medical_claim"),
            ("弹幕：刷到这个直播间就停不下来", "false_data"),
            ("羽绒服不能机洗 最好送干洗", "absolute_claim"),
            ("快递单上的电话是虚拟号 保护大家隐私", "off_platform"),
            ("三甲医院的医生都在用这个牌子的牙刷", "medical_claim"),
            ("这款我们已经卖出去五十万件了", "false_urgency"),
            ("弹幕：同款某宝才五十 主播你们是不是加价了", "off_platform"),
            ("你们可以扫瓶身二维码验证 官方授权的店", "off_platform"),
            ("弹幕：主播yyds，讲得真清楚", "absolute_claim"),
            ("这款老人机字大声音大 微信语音也能用", "off_platform"),
            ("弹幕：上次买的纸尿裤第一片就漏了 客服给换了一箱", "absolute_claim"),
            ("话术：本款空气炸锅为家用电器，不具备任何保健或治疗功能，请按说明书使用。", "medical_claim"),
            ("我们的快递默认中通 要顺丰的补差价", "price_fraud"),
            ("弹幕：听说这净水器医院都在用 医生都推荐 真的假的", "authority_claim"),
            ("场控：更正 刚才说医生推荐不准确 我们没有任何医生背书 以实际为准", "authority_claim"),
            ("美白需要时间 最少建议用满二十八天一个周期 每个人效果不一样", "medical_claim"),
            ("这款防脱洗发水是国妆特字号 备案功效就是防脱发 批号我放公屏了", "medical_claim"),
            ("猕猴桃二号链接 三十六个装 坏果百分百包赔 拍照就行", "absolute_claim"),
            ('复盘：场控昨天在公屏刷"已有3000人下单"，实际800单，已严肃处理', "false_data"),
            ("运营备注：保险直播禁说保本、稳赚、收益保证、等同存款，谁说谁下播", "finance_claim"),
            ("高血压的家人该吃药吃药 别把药停了 这个茶就是喝个味道", "medical_claim"),
            ("已售两万多那个数是平台自己统计的 我们后台改不了", "false_data"),
        ],
        [
            ("弹幕：主播能加个微信吗 想私下拿几件", "off_platform"),
            ("弹幕：有A货吗，要跟专柜一样的", "prohibited"),
            ("这面膜敷完 痘印闭口三天给你清干净 比皮肤科开的药还管用", "medical_claim"),
            ("弹幕：LV原单包 和专柜一模一样 私聊", "off_platform"),
            ("弹幕：兼职刷单 日结300 有意私", "off_platform"),
            ("三甲医院的医生都在用这个牌子的牙刷", "authority_claim"),
            ("这款我们已经卖出去五十万件了", "false_data"),
            ("弹幕：某宝同款才三十 别在这买 去那边搜店名", "off_platform"),
            ("咱们这个 yyds 同类里面 就没有能打的", "absolute_claim"),
            ("拍下以后客服会联系你补个包装费 十几块钱 小钱", "price_fraud"),
            ("弹幕：儿科医生都推荐 我家娃就吃这个", "authority_claim"),
            ("这款美白精华 用两瓶 黑色素全部清除 一辈子都白", "medical_claim"),
            ("弹幕：自从泡了这个 我高压从一百七到一百三了", "medical_claim"),
            ("以前穿XXL 现在穿S 我就说这么多 懂的上车", "medical_claim"),
            ("场控：有人刷“假货”就直接拉黑，再让评论组刷“正品放心”", "false_data"),
            ("不许说特供了哈 反正就是给大院里面供的那批 懂吧", "authority_claim"),
            ("糖尿病的家人不要吃药 喝这个茶就行", "medical_claim"),
        ],
    )


def test_a_denial_then_an_implied_claim_keeps_medical_flags() -> None:
    """明否暗示: 不敢说治病，但是… — for categories that never pass by context, a contrast after the
    denial keeps the flag."""
    flagged, _, _ = verdict("不敢说治病，但是我妈吃了三个月，血压真下来了")
    assert "medical_claim" in flagged
    flagged, _, _ = verdict("保本我不说，但这个产品这么多年就没亏过")
    assert "finance_claim" in flagged


def test_coordinated_denials_share_the_negation() -> None:
    flagged, warned, _ = verdict("这款是普通化妆品，不提祛斑美白，只说保湿")
    assert "medical_claim" not in flagged and "medical_claim" in warned


def test_evidence_lowers_to_warn_even_where_context_may_clear() -> None:
    """A checkable basis (价格曲线可查) makes a reference price advice to verify, not a flag; it is
    not cleared, so the basis is still shown to check."""
    r = scan(["原价一百五十九是这件上个月的日常售价，价格曲线可以看"])[0]
    assert "price_fraud" not in r.flagged
    assert any(h.category == "price_fraud" and h.severity == "warn" for h in r.hits)
    for text in [
        "吊牌价三百九是品牌统一零售价 专柜也是这个价 今天两百九",
        "专柜价三千二，今天两千九，你可以去商场问",
    ]:
        assert "price_fraud" not in scan([text])[0].flagged, text
    assert "price_fraud" in scan(["原价三百九 今天九十九"])[0].flagged
    # scarcity of one colour, stated with the rest in stock and no pressure, is a fact to check
    assert "false_urgency" not in scan(["白色只剩十几件了 其他颜色还多 不着急"])[0].flagged
    assert "false_urgency" in scan(["只剩最后三件了 手慢无"])[0].flagged


def test_ordinal_and_usage_tip_allow_regexes() -> None:
    for text in [
        "理赔材料我列一下 第一是病历 第二是发票",
        "这是《百年孤独》的第一版第一次印刷",
        "这款洗车液最佳稀释比例是一比一百",
        "这瓶酱油最好开封后三个月内用完",
    ]:
        assert "absolute_claim" not in scan([text])[0].flagged, text
    assert "absolute_claim" in scan(["我们是行业第一名"])[0].flagged


def test_an_allow_rule_may_clear_only_its_own_categories() -> None:
    """链接永久关闭 is no absolute claim, but the urgency rules still read the same words."""
    r = scan(["倒计时一分钟，一分钟后这个链接永久关闭"])[0]
    assert r.flagged == {"false_urgency"}
    assert [(c.category, c.allowed_by) for c in r.cleared] == [("absolute_claim", "allow.availability")]
    assert "absolute_claim" in scan(["这款面料永久不起球"])[0].flagged
    # a QR code printed on the box or manual, a certificate checked on the brand's site: not off-platform
    for text in ["说明书背面有个二维码 扫出来是安装视频", "二维码是产品溯源码", "证书编号大家可以去官网查"]:
        assert "off_platform" not in scan([text])[0].flagged, text
    assert "off_platform" in scan(["扫我身后的二维码进群拿底价"])[0].flagged


def test_considered_covers_hits_and_cleared_matches() -> None:
    """The n-gram model adds nothing to a category the lexicon already judged in that text."""
    denied, claim, clean = scan(["这个价不敢说全网最低", "全网最低价", "今天发货"])
    assert {"absolute_claim", "price_fraud"} <= denied.considered and not denied.flagged
    assert claim.considered == claim.flagged == {"absolute_claim", "price_fraud"}
    assert clean.considered == set()


def test_columnar_considered_matches_typed_results() -> None:
    from liveops.compliance import default_scanner

    sc = default_scanner()
    texts = ["这个价不敢说全网最低", "全网最低价", "今天发货", "防癌这种话我们不说"]
    cols, norm, cleared = sc.scan_columns(texts)
    by_line = sc.considered(cols, norm, cleared)
    assert [by_line.get(i, set()) for i in range(len(texts))] == [r.considered for r in sc.scan(texts)]


SMALL = textwrap.dedent(
    """
    version: "1"
    categories:
      absolute_claim: {zh: 绝对化用语, en: Absolute claims, law: 广告法, context: [negation]}
      vulgar: {zh: 低俗, en: Vulgar, law: 办法, context: []}
    rules:
      - {id: abs.best, category: absolute_claim, severity: block, patterns: [最好], law: 广告法第九条, explanation: 绝对化, suggestion: 删除}
      - {id: vul.x, category: vulgar, severity: block, patterns: [笨蛋], law: 办法, explanation: 辱骂, suggestion: 删除}
    allow:
      - {id: allow.ordinal, regex: ['第1[年天]'], reason: 序数}
    context:
      negation: [不]
      negation_bridge: [是, 说]
    """
)


def test_context_is_data_per_category(tmp_path) -> None:
    p = tmp_path / "lex.yaml"
    p.write_text(SMALL, encoding="utf-8")
    sc = Scanner(Lexicon.from_file(p))
    denied, asked, insult, titled = sc.scan(["这不是最好的", "这是最好的吗", "你不是笨蛋", "《最好的我们》"])
    assert not denied.flagged and denied.cleared[0].allowed_by == "context.negation"
    assert asked.flagged == {"absolute_claim"}  # question is not among this category's kinds
    assert insult.flagged == {"vulgar"}  # no context applies to vulgar here
    assert titled.flagged == {"absolute_claim"}


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ("context: [negation]}", "context: [negate]}"),
        ("  negation: [不]", "  negations: [不]"),
    ],
)
def test_context_errors_name_the_place(tmp_path, patch: str, message: str) -> None:
    p = tmp_path / "lex.yaml"
    p.write_text(SMALL.replace(patch, message, 1), encoding="utf-8")
    with pytest.raises(LexiconError) as e:
        Lexicon.from_file(p)
    assert "negate" in str(e.value) or "negations" in str(e.value)


def test_allow_scope_is_data_and_checked(tmp_path) -> None:
    p = tmp_path / "lex.yaml"
    scoped = "  - {id: allow.fool, patterns: [最好笨蛋], categories: [vulgar], reason: 剧名}\n"
    p.write_text(SMALL.replace("context:\n  negation:", scoped + "context:\n  negation:"), encoding="utf-8")
    r = Scanner(Lexicon.from_file(p)).scan(["最好笨蛋"])[0]
    assert r.flagged == {"absolute_claim"}
    assert [(c.category, c.allowed_by) for c in r.cleared] == [("vulgar", "allow.fool")]
    p.write_text(
        SMALL.replace(
            "context:\n  negation:", scoped.replace("[vulgar]", "[rude]") + "context:\n  negation:"
        ),
        encoding="utf-8",
    )
    with pytest.raises(LexiconError, match="allow.fool.*rude"):
        Lexicon.from_file(p)


def test_update_diff_lists_context_changes(tmp_path) -> None:
    from liveops.compliance import diff_lexicons

    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(SMALL, encoding="utf-8")
    b.write_text(
        SMALL.replace("negation_bridge: [是, 说]", "negation_bridge: [是, 讲]").replace(
            "context: [negation]}", "context: [negation, question]}"
        ),
        encoding="utf-8",
    )
    d = diff_lexicons(Lexicon.from_file(a), Lexicon.from_file(b))
    assert d.changed["context.negation_bridge"] == ["+讲 -说"]
    assert d.changed["category.absolute_claim"] == ["context: ['negation'] → ['negation', 'question']"]


def test_stored_hits_say_why_they_were_lowered() -> None:
    """At ingest a denied medical claim is kept as a warn hit whose suggestion (what the big screen shows)
    starts with the context, and the n-gram model adds no hit of a category the lexicon judged."""
    import datetime as dt

    import pyarrow as pa

    from liveops import compliance_store as CS
    from liveops.compliance import default_scanner

    texts = ["防癌这种话我们不说，它就是一款普通的杂粮粉", "这个价我可不敢说全网最低", "全网最低价"]
    n = len(texts)
    rows = pa.table(
        {
            "event_id": [f"e{i}" for i in range(n)],
            "session_id": ["s"] * n,
            "room_id": ["r"] * n,
            "ts": [dt.datetime(2026, 11, 25, 20, 0, i) for i in range(n)],
            "type": ["transcript"] * n,
            "user_id": ["u"] * n,
            "text": texts,
            "streamer_id": ["st"] * n,
        }
    )
    hits = CS.hits_of(default_scanner(), rows).to_pylist()
    denied = [h for h in hits if h["event_id"] == "e0"]
    assert denied and all(
        h["severity"] == "warn" and h["suggestion"].startswith("语境：否定") for h in denied
    )
    assert not [h for h in hits if h["event_id"] == "e1"]  # cleared; the model keeps out of it
    assert {h["category"] for h in hits if h["event_id"] == "e2"} == {"absolute_claim", "price_fraud"}
