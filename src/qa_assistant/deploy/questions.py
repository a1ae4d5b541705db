"""What the deploy check's citizens ask: many different questions, as citizens do.

The pool is the project's evaluation set (``eval/questions.jsonl``, over the documents the
check starts from), each of its questions also typed without diacritics as many citizens type
on a phone, and the questions below, written as citizens write to the staff: plain, some
vague, some about what the documents do not say, some a follow-up ("Còn … thì sao?") asked
after an earlier question of the same conversation. A question asked again by another
citizen would be answered from the models' caches: each citizen gets its own questions, dealt
from the shuffled pool, until the pool runs out.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .._vietnamese import strip_diacritics

__all__ = ["CITIZEN_QUESTIONS", "FOLLOW_UPS", "Ask", "deal", "question_pool"]


@dataclass(frozen=True)
class Ask:
    """One question as the ``ask`` API takes it: the earlier questions of its conversation too."""

    question: str
    history: tuple[str, ...] = ()


CITIZEN_QUESTIONS = (
    "Nhà tôi thuộc hộ cận nghèo, có được tỉnh hỗ trợ sửa nhà không?",
    "Tết này thôn tôi được tỉnh cho bao nhiêu tiền?",
    "Tiền hỗ trợ đón Tết của thôn được chi vào việc gì?",
    "Con tôi đang đi học, nhà khó khăn thì có được giảm học phí không?",
    "Người khuyết tật có được tỉnh quan tâm dịp Tết không?",
    "Tôi là công nhân khu công nghiệp, Tết có được hỗ trợ vé xe về quê không?",
    "Công nhân ở xa quê có được tỉnh lo chỗ ở không?",
    "Nhà ở xã hội ở Quảng Ninh ai được mua?",
    "Tỉnh có giúp người lao động tìm việc làm không?",
    "Bảo hiểm y tế ở Quảng Ninh có phủ rộng không?",
    "Trạm y tế xã có được đầu tư nâng cấp không?",
    "Quảng Ninh còn hộ nghèo theo chuẩn quốc gia không?",
    "Năm 2025 tỉnh sửa nhà cho bao nhiêu hộ người có công?",
    "Hội Phụ nữ cho hội viên vay vốn bằng cách nào?",
    "Mô hình nuôi lợn tiết kiệm là gì?",
    "Đoàn Thanh niên giúp thanh niên lập nghiệp ra sao?",
    "Phụ nữ vùng biên giới được hội phụ nữ giúp những gì?",
    "Ngày vì người nghèo là hoạt động gì?",
    "Bao nhiêu hộ gia đình ở Quảng Ninh đạt gia đình văn hóa?",
    "Thôn nào ở Quảng Ninh cũng có nhà văn hóa chưa?",
    "Ai công nhận Quảng Ninh hoàn thành xây dựng nông thôn mới?",
    "Tỉnh tặng bao nhiêu suất quà Tết cho gia đình chính sách?",
    "Chợ Tết cho công nhân tổ chức ở đâu?",
    "Người cao tuổi được tỉnh chăm lo những gì?",
    "Trẻ em có hoàn cảnh đặc biệt có được hỗ trợ không?",
    "Tỉnh giải quyết tranh chấp giữa công nhân và doanh nghiệp thế nào?",
    "Học nghề ở Quảng Ninh có gắn với nhu cầu doanh nghiệp không?",
    "Hộ nghèo muốn vay vốn làm ăn thì hỏi ở đâu?",
    "Mức trợ cấp hằng tháng cho người khuyết tật là bao nhiêu?",
    "Thủ tục xin hỗ trợ sửa nhà cho hộ nghèo gồm những gì?",
    "Tỉnh có hỗ trợ tiền điện cho hộ nghèo không?",
    "Giảm nghèo bền vững ở Quảng Ninh làm bằng cách nào?",
    "Doanh nghiệp có góp tiền xây nhà văn hóa không?",
    "Chính sách an sinh của tỉnh lo cho những nhóm người nào?",
    "Quảng Ninh lấy gì làm thước đo phát triển?",
)

# (earlier question, the follow-up asked after it in the same conversation)
FOLLOW_UPS = (
    ("Năm 2025 tỉnh sửa nhà cho bao nhiêu hộ nghèo?", "Còn hộ người có công thì sao?"),
    ("Năm 2025 tỉnh sửa nhà cho bao nhiêu hộ nghèo?", "Còn năm nay thì sao?"),
    ("Ai được miễn, giảm học phí?", "Còn bảo hiểm y tế thì sao?"),
    ("Bao nhiêu phần trăm hộ gia đình đạt chuẩn gia đình văn hóa?", "Còn khu dân cư thì sao?"),
    ("Tỷ lệ thôn có nhà văn hóa là bao nhiêu?", "Còn khu phố văn hóa thì sao?"),
    ("Hội Phụ nữ tỉnh đã làm gì để giúp hội viên?", "Còn Đoàn Thanh niên thì sao?"),
    ("Quảng Ninh hỗ trợ mỗi thôn bao nhiêu tiền để đón Tết?", "Còn khu phố thì sao?"),
    ("Quảng Ninh hỗ trợ mỗi thôn bao nhiêu tiền để đón Tết?", "Còn công nhân thì sao?"),
    ("Quảng Ninh hỗ trợ mỗi thôn bao nhiêu tiền để đón Tết?", "Còn Hà Nội thì sao?"),
    ("Dịp Tết công nhân được hỗ trợ những gì?", "Còn người khuyết tật thì sao?"),
    ("Dịp Tết công nhân được hỗ trợ những gì?", "Còn chỗ ở thì sao?"),
    ("Chương trình Đồng hành cùng phụ nữ biên cương có kinh phí bao nhiêu?", "Còn hiện vật?"),
    ("Nhà ở xã hội dành cho ai?", "Còn hộ nghèo thì sao?"),
    ("Quảng Ninh còn hộ nghèo không?", "Còn hộ cận nghèo thì sao?"),
    ("Trạm y tế xã có được nâng cấp không?", "Còn bảo hiểm y tế thì sao?"),
    ("Quảng Ninh hoàn thành nông thôn mới năm nào?", "Thế còn giai đoạn nào?"),
)


def question_pool(eval_set: Path) -> tuple[Ask, ...]:
    """Every distinct question the citizens may ask, in a fixed order.

    ``eval_set``: the evaluation set's JSON lines, each with its ``question``.
    """
    asked = [
        str(json.loads(line)["question"])
        for line in eval_set.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    plain = [*asked, *CITIZEN_QUESTIONS]
    asks = [Ask(q) for q in plain]
    asks += [Ask(strip_diacritics(q).lower()) for q in plain]
    asks += [Ask(after, (before,)) for before, after in FOLLOW_UPS]
    asks += [Ask(strip_diacritics(after).lower(), (before,)) for before, after in FOLLOW_UPS]
    return _distinct(asks)


def _distinct(asks: Iterable[Ask]) -> tuple[Ask, ...]:
    return tuple(dict.fromkeys(asks))


def deal(pool: Sequence[Ask], users: int, per_user: int, rng: random.Random) -> list[list[Ask]]:
    """``per_user`` questions for each of ``users`` citizens: the pool shuffled and dealt in
    turn, so no question comes twice before every one has come once."""
    deck: list[Ask] = []
    hands: list[list[Ask]] = [[] for _ in range(users)]
    for _ in range(per_user):
        for hand in hands:
            if not deck:
                deck = list(pool)
                rng.shuffle(deck)
            hand.append(deck.pop())
    return hands
