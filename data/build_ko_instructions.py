"""Build the bundled Korean text for notebook 06 (data/ko_corpus.txt, data/ko_instructions.jsonl).

Written for this course by the course authors (2026-12-06); released under CC0 1.0. Every phrase below was
hand-written for this project; nothing is copied from NSMC, KoAlpaca or any other data set. The script combines
hand-written openers, aspect phrases (positive and negative) and verdicts with a seeded RNG. Standard library only;
deterministic:

    python data/build_ko_instructions.py

rewrites both files byte-identically.

- ``ko_corpus.txt``: one short Korean movie review per line — the raw text the course's tiny causal LM is pretrained on
  (course_utils/llm/build_base.py). It never contains the instruction template.
- ``ko_instructions.jsonl``: instruction rows ``{"id", "split", "task", "instruction", "input", "output"}`` made from
  *other* reviews (none of them is in the corpus): task ``aspect`` (which part of the film does the review judge? the
  answer is one of ASPECTS) and task ``sentiment`` (긍정/부정). Splits: train / validation / test.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SEED = 20261206
OUT_DIR = Path(__file__).resolve().parent
N_CORPUS = 6000
N_PER_TASK = {"train": 1200, "validation": 120, "test": 120}

INSTRUCTIONS = {
    "aspect": "다음 영화 리뷰가 주로 평가하는 영화 요소를 한 단어로 답하세요.",
    "sentiment": "다음 영화 리뷰의 감정을 긍정 또는 부정으로 답하세요.",
}

# aspect: (positive phrases, negative phrases); the aspect word itself appears in every phrase.
ASPECTS = {
    "연기": (["{a}가 정말 자연스럽다", "배우들의 {a}가 압도적이다", "주연의 {a}가 눈물 날 만큼 좋았다",
             "조연들 {a}까지 빈틈이 없다", "{a} 하나로 두 시간이 금방 간다"],
            ["{a}가 너무 어색하다", "배우들 {a}가 발연기 수준이다", "주연의 {a}가 몰입을 깬다",
             "{a}가 과장돼서 보기 힘들다", "{a} 때문에 웃음이 나왔다 나쁜 뜻으로"]),
    "연출": (["{a}이 세련되고 깔끔하다", "감독의 {a}이 돋보인다", "{a}이 긴장감을 끝까지 끌고 간다",
             "장면마다 {a}이 섬세하다", "{a} 덕분에 지루할 틈이 없다"],
            ["{a}이 산만하고 엉성하다", "감독의 {a}이 촌스럽다", "{a}이 늘어져서 졸렸다",
             "{a}이 뻔하고 밋밋하다", "{a}이 갈피를 못 잡는다"]),
    "음악": (["{a}이 장면과 완벽하게 어울린다", "OST와 {a}이 귀에 계속 맴돈다", "{a}이 감정을 잘 살린다",
             "{a}만 들어도 다시 보고 싶다", "{a}이 웅장해서 소름 돋았다"],
            ["{a}이 너무 시끄럽다", "{a}이 장면과 따로 논다", "{a}이 감정을 억지로 짜낸다",
             "{a}이 촌스럽고 유치하다", "{a} 때문에 대사가 안 들린다"]),
    "스토리": (["{a}가 탄탄하고 짜임새 있다", "{a}가 예측 불가라 끝까지 궁금하다", "{a}가 따뜻하고 감동적이다",
              "{a} 전개가 시원시원하다", "{a}가 촘촘해서 다시 보고 싶다"],
             ["{a}가 너무 뻔하다", "{a}가 개연성이 없다", "{a} 전개가 답답하다",
              "{a}가 산으로 간다", "{a}에 구멍이 너무 많다"]),
    "영상미": (["{a}가 그림처럼 아름답다", "{a}가 극장에서 볼 만하다", "{a} 하나는 최고다",
              "색감과 {a}가 황홀하다", "{a}가 눈을 뗄 수 없게 만든다"],
             ["{a}가 칙칙하고 어둡기만 하다", "{a}가 싸구려 같다", "{a}가 흐릿해서 눈이 아프다",
              "{a}에 신경을 안 쓴 티가 난다", "{a}가 기대 이하다"]),
    "결말": (["{a}이 여운이 길게 남는다", "{a}이 깔끔하고 완벽하다", "{a}에서 눈물이 터졌다",
             "{a}까지 반전이 좋다", "{a}이 모든 것을 설명해 준다"],
            ["{a}이 허무하다", "{a}이 급하게 끝난다", "{a}이 억지스럽다",
             "{a}을 보고 화가 났다", "{a}이 앞 내용을 다 망친다"]),
    "대사": (["{a}가 맛깔나고 재치 있다", "{a} 한 줄 한 줄이 명언이다", "{a}가 현실적이라 공감된다",
             "{a}가 웃기면서도 찡하다", "{a}가 귀에 쏙쏙 들어온다"],
            ["{a}가 오글거린다", "{a}가 설명조라 지루하다", "{a}가 유치하다",
             "{a}가 어색해서 손발이 사라졌다", "{a}가 뜬금없다"]),
    "액션": (["{a}이 시원하고 화끈하다", "{a} 장면이 숨 막힌다", "{a}이 정교하고 박진감 넘친다",
             "{a}만으로도 표값이 아깝지 않다", "{a} 합이 완벽하다"],
            ["{a}이 어설프다", "{a} 장면이 너무 길고 지루하다", "{a}이 엉성해서 티가 난다",
             "{a}이 흔들려서 뭐가 뭔지 모르겠다", "{a}만 요란하다"]),
}
OPENERS = ["", "", "오랜만에 극장에 갔는데 ", "친구 추천으로 봤는데 ", "기대 없이 봤는데 ", "주말에 봤다. ",
           "솔직히 말하면 ", "두 번 봤는데 ", "예고편 보고 갔는데 ", "가족이랑 봤는데 "]
VERDICTS = {1: ["", "", " 강추합니다", " 꼭 보세요", " 10점 만점에 9점", " 또 보고 싶다", " 인생 영화 등극",
                " ㅋㅋ 최고"],
            0: ["", "", " 비추합니다", " 돈 아깝다", " 10점 만점에 2점", " 시간 낭비였다", " 다시는 안 본다",
                " ㅡㅡ"]}
ANSWERS = {"sentiment": {1: "긍정", 0: "부정"}}


def review(rng: random.Random, aspect: str, label: int) -> str:
    """One review about `aspect` with sentiment `label` (1 positive, 0 negative)."""
    phrase = rng.choice(ASPECTS[aspect][1 - label]).format(a=aspect)
    ending = rng.choice([".", "", "!", "..", " ㅎㅎ" if label else " ㅠㅠ"])
    return (rng.choice(OPENERS) + phrase + ending + rng.choice(VERDICTS[label])).strip()


def build(seed: int = SEED) -> tuple[list[str], list[dict]]:
    """The corpus lines and the instruction rows; no review appears twice anywhere."""
    rng = random.Random(seed)
    seen: set[str] = set()

    def fresh(aspect: str, label: int) -> str:
        for _ in range(200):
            text = review(rng, aspect, label)
            if text not in seen:
                seen.add(text)
                return text
        raise RuntimeError(f"no new review left for {aspect}/{label}")

    rows = []
    for split, n in N_PER_TASK.items():
        for task in INSTRUCTIONS:
            for i in range(n):
                aspect, label = rng.choice(list(ASPECTS)), i % 2
                text = fresh(aspect, label)
                output = aspect if task == "aspect" else ANSWERS["sentiment"][label]
                rows.append({"id": f"{task}-{split}-{i:04d}", "split": split, "task": task,
                             "instruction": INSTRUCTIONS[task], "input": text, "output": output})
    corpus = [fresh(rng.choice(list(ASPECTS)), rng.randrange(2)) for _ in range(N_CORPUS)]
    return corpus, rows


def main() -> None:
    corpus, rows = build()
    (OUT_DIR / "ko_corpus.txt").write_text("\n".join(corpus) + "\n", encoding="utf-8")
    with open(OUT_DIR / "ko_instructions.jsonl", "w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
