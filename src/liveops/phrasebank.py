"""Chinese phrase banks for the simulator: danmaku by intent, streamer talk, violating lines.

Everything here is plain data plus a few pure helpers. The simulator draws comment texts by
intent and builds transcript lines from templates; the ground truth keeps the intent and the
violation category, so NLP, compliance and anti-cheat code can be measured against them.

``COMMENT_INTENT`` maps every comment text the simulator can emit (except injected violations,
which the truth file lists by event id) back to its intent.
"""

from __future__ import annotations

# --- danmaku (comments) by intent --------------------------------------------------------------

QUESTIONS: dict[str, tuple[str, ...]] = {
    "price": (
        "多少钱",
        "这个多少钱",
        "价格是多少",
        "今天什么价",
        "有优惠券吗",
        "领券后多少钱",
        "拍两件有优惠吗",
        "能再便宜点吗",
        "和上次一样的价格吗",
        "有赠品吗",
        "满减怎么算",
        "到手价多少",
        "粉丝有专属价吗",
        "第二件半价吗",
    ),
    "size": (
        "有大码吗",
        "160斤穿什么码",
        "身高165体重120穿多大",
        "偏大还是偏小",
        "有S码吗",
        "尺码怎么选",
        "微胖能穿吗",
        "鞋子是正码吗",
        "有几个颜色",
        "黑色还有吗",
        "容量多大",
        "腰围多少",
        "小个子能穿吗",
        "一盒有几片",
    ),
    "shipping": (
        "什么时候发货",
        "包邮吗",
        "发什么快递",
        "新疆发货吗",
        "几天能到",
        "今天拍明天能发吗",
        "偏远地区包邮吗",
        "能发顺丰吗",
        "有运费险吗",
        "从哪里发货",
        "预售要等多久",
    ),
    "stock": (
        "还有货吗",
        "没库存了吗",
        "还能补货吗",
        "抢不到怎么办",
        "还有多少单",
        "什么时候补库存",
        "怎么显示已售罄",
        "下一轮什么时候上",
        "还会返场吗",
        "能再加点库存吗",
    ),
    "product": (
        "什么材质",
        "敏感肌能用吗",
        "保质期多久",
        "孕妇能用吗",
        "怎么用",
        "可以机洗吗",
        "有没有味道",
        "适合油皮吗",
        "会掉色吗",
        "是正品吗",
        "起球吗",
        "冬天穿冷不冷",
    ),
}
# Link-specific questions: ``{n}`` is the cart link number (1号链接 …).
QUESTION_LINK_TEMPLATES: dict[str, tuple[str, ...]] = {
    "price": ("{n}号链接多少钱", "{n}号什么价"),
    "size": ("{n}号有大码吗", "{n}号有几个颜色"),
    "shipping": ("{n}号什么时候发货",),
    "stock": ("{n}号还有货吗", "{n}号还会返场吗"),
    "product": ("{n}号是什么材质",),
}

REACTIONS: tuple[str, ...] = (
    "好看",
    "已拍",
    "111",
    "1111",
    "666",
    "已拍已拍",
    "拍了拍了",
    "冲冲冲",
    "爱了爱了",
    "太好看了",
    "主播好美",
    "买买买",
    "已下单",
    "抢到了",
    "好便宜",
    "支持主播",
    "真不错",
    "绝了",
    "哇",
    "哈哈哈哈",
    "回购了",
    "第三次买了",
    "姐妹们冲",
    "上次买过质量很好",
    "上身效果好棒",
    "想要",
    "扣1",
    "这个颜色绝美",
    "心动了",
    "必须拿下",
)

COMPLAINTS: tuple[str, ...] = (
    "发货太慢了",
    "上次买的质量不好",
    "客服一直不回消息",
    "怎么又涨价了",
    "根本抢不到",
    "链接拍不了",
    "退款还没到账",
    "色差太大了",
    "尺码不准",
    "昨天还便宜今天就贵了",
    "画面一直卡",
    "东西半个月还没到",
    "衣服洗一次就起球了",
    "不值这个价",
    "主播不回答问题",
    "收到的和直播间的不一样",
    "包装破了",
    "优惠券用不了",
)

CHAT: tuple[str, ...] = (
    "晚上好",
    "主播晚上好",
    "来了来了",
    "第一次来",
    "天天来看你",
    "主播哪里人呀",
    "背景音乐叫什么",
    "主播辛苦了",
    "今天播到几点",
    "刚下班",
    "打卡",
    "路过看看",
    "主播声音好好听",
    "今天开播好早",
    "想你了",
    "下周还播吗",
    "福袋什么时候开",
    "助理小姐姐好可爱",
    "今天好冷",
    "陪你到下播",
)

# Spam: only emitted by comment-spam bots when cheating is enabled.
SPAM: tuple[str, ...] = (
    "加V领福利，私信我",
    "兼职刷单日结，私聊",
    "点我头像领大额券",
    "低价代购大牌，看主页",
    "关注我每天送红包",
    "免费领取试用装，看我主页",
    "高仿一比一，私聊",
    "网赚项目日入500",
    "私信送会员卡",
    "看我主页有惊喜",
)

COMMENT_INTENTS = ("question", "reaction", "complaint", "chat")
COMMENT_INTENT_ZH = {
    "question": "提问",
    "reaction": "反应",
    "complaint": "抱怨",
    "chat": "闲聊",
    "spam": "垃圾广告",
}


def comment_pool(n_links: int) -> list[tuple[str, str, str]]:
    """Every comment the simulator may emit as (text, intent, topic); link questions for 1..n_links."""
    out: list[tuple[str, str, str]] = []
    for topic, texts in QUESTIONS.items():
        out += [(t, "question", topic) for t in texts]
    for topic, tpls in QUESTION_LINK_TEMPLATES.items():
        for tpl in tpls:
            out += [(tpl.format(n=n), "question", topic) for n in range(1, n_links + 1)]
    out += [(t, "reaction", "") for t in REACTIONS]
    out += [(t, "complaint", "") for t in COMPLAINTS]
    out += [(t, "chat", "") for t in CHAT]
    out += [(t, "spam", "") for t in SPAM]
    return out


def intent_of(text: str, n_links: int = 99) -> str | None:
    """The intent of a simulated comment text (None for texts the bank does not know)."""
    return _intent_map(n_links).get(text)


_INTENT_CACHE: dict[int, dict[str, str]] = {}


def _intent_map(n_links: int) -> dict[str, str]:
    if n_links not in _INTENT_CACHE:
        _INTENT_CACHE[n_links] = {t: i for t, i, _ in comment_pool(n_links)}
    return _INTENT_CACHE[n_links]


# --- violations (ground truth for the compliance scanner) ---------------------------------------

VIOLATION_CATEGORIES: dict[str, tuple[str, str]] = {
    "absolute_claim": ("绝对化用语", "Absolute terms (最/第一/国家级/全网最低 …)"),
    "medical_claim": ("医疗功效宣称", "Medical or curative claims for non-drug products"),
    "false_urgency": ("虚假紧迫/饥饿营销", "False scarcity or urgency"),
    "price_fraud": ("虚构原价/价格欺诈", "Invented reference prices"),
    "vulgar": ("低俗/辱骂", "Vulgar or abusive language"),
    "off_platform": ("引导站外交易", "Steering buyers to off-platform deals"),
    "false_data": ("诱导好评", "Paying for positive reviews"),
}

# Streamer lines that break the rules (``{name}``: product name, ``{price}``: price in yuan).
VIOLATING_TRANSCRIPT: dict[str, tuple[str, ...]] = {
    "absolute_claim": (
        "这是全网最低价，没有比我们更便宜的",
        "这款{name}绝对是全网第一，闭眼入",
        "国家级品质，顶级配方，别家都比不了",
        "史上最好用的{name}，没有之一",
        "这是最好的{name}，用过的都说是第一名",
        "全网销量第一，百分之百有效",
        "最高级的面料，最舒服的版型",
        "行业第一品牌，绝对正品",
    ),
    "medical_claim": (
        "这个茶喝了能降血压降血糖",
        "用了这款{name}可以治疗湿疹",
        "每天吃两粒能防癌抗癌",
        "坚持用一个月根治失眠",
        "祛斑效果立竿见影，三天见效",
        "这个能治疗脱发，比吃药还管用",
        "孩子吃了能提高免疫力，不再生病",
        "消炎杀菌，治好了我多年的鼻炎",
    ),
    "false_urgency": (
        "最后一分钟，马上下架，以后再也不会有这个价",
        "今天不买明天就涨价三倍",
        "这是最后一次返场，永不返场",
        "只剩最后三单了，错过等一年",
        "倒计时十秒，之后恢复原价九百九",
        "全网就这一批货，卖完工厂就停产了",
    ),
    "price_fraud": (
        "原价一千九百九，今天只要{price}",
        "专柜价两千多，直播间{price}元到手",
        "吊牌价九百九十九，今天一折",
        "市场价至少五百，今天{price}元亏本卖",
    ),
    "vulgar": (
        "说贵的都是穷鬼，别在直播间捣乱",
        "不买的都是傻子",
        "那个黑粉给我滚出去",
        "谁再乱说我骂死他",
    ),
    "off_platform": (
        "加主播微信私下下单更便宜",
        "拍下备注微信号，返现五十",
        "想要的去我主页找联系方式，私下交易不走平台",
        "走平台太贵了，加群里直接转账",
    ),
    "false_data": (
        "收到货给五星好评返现二十元",
        "晒图好评截图找客服领红包",
        "好评返现，差评不退款",
    ),
}

# Comments from ordinary viewers that break the rules (injected at the configured rate).
VIOLATING_COMMENTS: dict[str, tuple[str, ...]] = {
    "vulgar": (
        "主播就是个骗子",
        "垃圾主播滚出去",
        "什么破玩意儿，傻子才买",
        "一群托儿在这演戏",
        "你脑子有病吧",
    ),
    "off_platform": (
        "加我微信买更便宜",
        "同款私聊我，比直播间便宜一半",
        "要的加我，走闲鱼",
    ),
    "medical_claim": (
        "我用了这个糖尿病都好了",
        "这个能治癌症，大家快买",
    ),
}

# --- streamer talk (ASR transcript) ------------------------------------------------------------

TRANSCRIPT_OPENING: tuple[str, ...] = (
    "欢迎新进直播间的家人们，点点关注不迷路",
    "家人们晚上好，今天给大家准备了超多福利",
    "刚进来的宝宝们，左上角福袋马上开奖，先点个关注",
    "今天是我们的宠粉专场，所有链接都给大家包邮",
    "人齐了我们就开始上第一个链接",
    "新来的朋友们扣个1，让我看到你们",
)
TRANSCRIPT_INTERACTION: tuple[str, ...] = (
    "想要的宝宝们在公屏上扣1",
    "觉得好看的给主播点点赞",
    "加入粉丝团可以领专属优惠券",
    "把直播间分享给好朋友，分享就送优惠券",
    "有问题的打在公屏上，我一个一个回答",
    "还没点关注的点个关注，下次开播第一时间通知你",
    "福袋还有五分钟开奖，大家不要走开",
    "点赞到十万我们就上秒杀",
)
TRANSCRIPT_PITCH: dict[str, tuple[str, ...]] = {
    "服饰": (
        "这件{name}面料非常舒服，上身不扎，版型也很显瘦",
        "{name}我身高165穿的是M码，微胖的姐妹可以拍大一码",
        "大家看一下这个{name}的细节，走线很工整，做工很扎实",
        "{name}有三个颜色，黑色最百搭，今天到手价{price}元",
        "这个{name}冬天穿特别保暖，洗了也不会变形",
    ),
    "美妆": (
        "这款{name}质地很轻薄，吸收很快，不会闷痘",
        "{name}干皮油皮都可以用，敏感肌建议先在耳后试一下",
        "今天{name}直播间到手价{price}元，还送同款小样",
        "大家看我手背上的试色，{name}的颜色非常显白",
        "{name}是我们的回购王，很多老粉都是一买好几瓶",
    ),
    "食品": (
        "{name}每一包都是独立包装，上班带着也方便",
        "这个{name}口感很好，甜度刚刚好，不会腻",
        "{name}保质期十二个月，今天拍两件更划算",
        "家人们，{name}今天到手价只要{price}元，全国包邮",
        "{name}配料表很干净，小朋友也可以吃",
    ),
    "家居": (
        "这套{name}用的是长绒棉，睡起来特别亲肤",
        "{name}尺寸有好几个，下单前量一下自己家的尺寸",
        "{name}今天直播间价格{price}元，还送运费险",
        "这个{name}收纳特别方便，不占地方",
        "{name}我们自己家里也在用，用了两年了",
    ),
    "个护": (
        "这款{name}味道很淡，洗完头发很蓬松",
        "{name}一瓶能用两三个月，算下来一天几毛钱",
        "今天{name}拍一发二，到手价{price}元",
        "{name}温和不刺激，全家都可以用",
        "{name}是我们店里的爆款，好评率非常高",
    ),
}
TRANSCRIPT_FLASH: tuple[str, ...] = (
    "秒杀马上开始，准备好手速，三二一上链接",
    "{name}秒杀价{price}元，库存有限，拍完就没有了",
    "福利款{name}已经上架了，没抢到的不要着急，等下返场",
    "这一波{name}是给我们老粉的福利，{price}元包邮",
    "后台再给大家加一百单{name}，抓紧时间",
)
TRANSCRIPT_ANSWER: tuple[str, ...] = (
    "问尺码的姐妹，一百六十斤以下都可以穿",
    "所有链接都是包邮的，今天拍明天就发",
    "偏远地区也是包邮的，新疆西藏除外",
    "有运费险，收到不满意可以七天无理由退",
    "问价格的宝宝，领券之后就是这个价",
    "还没抢到的不要着急，等下返场",
    "我们都是品牌官方授权，假一赔十",
)
TRANSCRIPT_CLOSING: tuple[str, ...] = (
    "今天的直播就到这里，感谢大家的支持",
    "还没下单的抓紧时间，马上就要下播了",
    "我们下周同一时间再见，记得点关注",
    "谢谢家人们的陪伴，晚安",
)

# --- catalogue, titles, gifts -------------------------------------------------------------------

CATEGORIES: dict[str, dict] = {
    "服饰": {
        "weight": 0.34,
        "price": (79.0, 399.0),
        "refund": 0.20,
        "items": (
            "羊毛双面呢大衣",
            "加绒连帽卫衣",
            "高腰阔腿裤",
            "短款白鸭绒羽绒服",
            "慵懒风针织开衫",
            "德绒保暖打底衫",
            "直筒牛仔裤",
            "仙女半身长裙",
            "羊绒围巾",
            "加厚雪地靴",
            "法式碎花连衣裙",
            "摇粒绒外套",
        ),
    },
    "美妆": {
        "weight": 0.2,
        "price": (49.0, 299.0),
        "refund": 0.07,
        "items": (
            "玻尿酸补水精华液",
            "烟酰胺亮肤面霜",
            "丝绒哑光口红",
            "清透气垫BB霜",
            "水润防晒乳",
            "温和卸妆油",
            "睡眠面膜",
            "眼部精华霜",
            "定妆散粉",
            "氨基酸洁面乳",
        ),
    },
    "食品": {
        "weight": 0.2,
        "price": (19.0, 99.0),
        "refund": 0.04,
        "items": (
            "每日坚果礼盒",
            "手撕风干牛肉干",
            "柳州螺蛳粉",
            "低糖即食燕麦片",
            "冻干挂耳咖啡",
            "阳澄湖大闸蟹礼券",
            "五常大米",
            "云南鲜花饼",
            "东北黑木耳",
            "蜂蜜柚子茶",
        ),
    },
    "家居": {
        "weight": 0.12,
        "price": (39.0, 299.0),
        "refund": 0.10,
        "items": (
            "长绒棉四件套",
            "天然乳胶枕",
            "折叠收纳箱",
            "双人电热毯",
            "香薰蜡烛礼盒",
            "珊瑚绒毛毯",
            "不粘锅炒锅",
            "保温杯",
        ),
    },
    "个护": {
        "weight": 0.14,
        "price": (29.0, 159.0),
        "refund": 0.06,
        "items": (
            "氨基酸洗发水",
            "香氛沐浴露",
            "声波电动牙刷",
            "烟酰胺身体乳",
            "护手霜套装",
            "漱口水",
            "洗衣凝珠",
            "纸巾整箱",
        ),
    },
}
BRAND_WORDS: tuple[str, ...] = (
    "云朵",
    "小鹿",
    "暖阳",
    "初见",
    "山野",
    "南山",
    "柚见",
    "星禾",
    "木槿",
    "禾风",
)
FLASH_PRICES: tuple[float, ...] = (9.9, 19.9, 29.9, 39.9)

TITLES: tuple[str, ...] = (
    "双11宠粉专场｜全场包邮",
    "冬季新品首发，福利不停",
    "工厂直发源头好价",
    "周末狂欢夜，秒杀到底",
    "老粉回馈专场",
    "年货节提前购",
)
STREAMER_NAMES: tuple[str, ...] = ("小雅", "阿杰", "糖糖", "大鹏", "婷婷", "小鱼", "七七", "阿蒙")

# (name, unit value in yuan, relative frequency)
GIFTS: tuple[tuple[str, float, float], ...] = (
    ("小心心", 0.1, 50.0),
    ("玫瑰", 0.1, 20.0),
    ("人气票", 0.1, 12.0),
    ("加油鸭", 1.5, 6.0),
    ("棒棒糖", 0.9, 6.0),
    ("鲜花", 6.6, 2.0),
    ("比心兔兔", 19.9, 1.0),
    ("为你闪耀", 29.9, 0.5),
    ("浪漫花火", 199.0, 0.1),
    ("嘉年华", 300.0, 0.05),
)

DEVICES: tuple[str, ...] = ("ios", "android", "harmony")
REGIONS: tuple[str, ...] = (
    "广东",
    "浙江",
    "江苏",
    "山东",
    "河南",
    "四川",
    "湖北",
    "湖南",
    "福建",
    "北京",
    "上海",
    "河北",
    "安徽",
    "辽宁",
    "陕西",
    "云南",
)
