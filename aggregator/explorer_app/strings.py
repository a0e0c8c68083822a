"""Every string of the ledger explorer, in Korean and English, and the choice between them.

One small table rather than gettext catalogues: the explorer has a few dozen strings, no
plurals, and its JavaScript needs the same ones (the pages hand it the ``reason.*``,
``step.*``, ``state.*``, ``fact.*``, ``check.*``, ``witness.*`` and ``kind.*`` strings
as JSON). The language is
``?lang=ko|en`` when given (the switch on every page links it), else the best match of the
browser's ``Accept-Language``, else English. A test checks that both languages have the
same keys.
"""

from __future__ import annotations

from flask import Request

LANGUAGES = ("ko", "en")
DEFAULT = "en"

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "site": "safecode ledger",
        "nav.checkpoint": "Latest checkpoint",
        "nav.blocks": "Blocks",
        "nav.check": "Check a receipt",
        "nav.audit": "Audit entries",
        "audit.title": "Audit entries",
        "audit.intro": "Every case opened, exposure list made, batch of contacts decrypted, "
        "export and notice is written to the same ledger as its own leaf, signed and "
        "sealed like any check-in. No visitor is named here.",
        "audit.none": "No audit entry has been sealed yet.",
        "audit.time": "Time (UTC)",
        "audit.action": "Action",
        "audit.actor": "Account",
        "audit.role": "Role",
        "audit.case": "Case",
        "audit.reason": "Stated reason",
        "audit.counts": "Counts",
        "audit.more": "Later entries",
        "audit.first": "First entries",
        "switch": "한국어",
        "switch.label": "Language",
        "checkpoint.title": "Latest checkpoint",
        "checkpoint.none": "No block has been sealed yet.",
        "checkpoint.intro": "The ledger's signed statement of its current size and root. "
        "Anyone can check it with the ledger key; witnesses countersign it.",
        "checkpoint.origin": "Origin",
        "checkpoint.size": "Tree size (leaves)",
        "checkpoint.root": "Root hash",
        "checkpoint.block": "Block",
        "checkpoint.sealed": "Sealed (UTC)",
        "checkpoint.note": "Signed note",
        "checkpoint.signers": "Signatures",
        "checkpoint.vkey": "Ledger verifier key",
        "checkpoint.vkey_none": "This server does not state its ledger key: ask the operator.",
        "signer.name": "Key name",
        "signer.key_id": "Key id",
        "signer.role": "Role",
        "signer.ledger": "ledger key",
        "signer.witness": "witness",
        "signer.unknown": "unknown key",
        "witnesses.title": "Witness cosignatures",
        "witnesses.intro": "Witnesses run by other parties countersign a checkpoint once "
        "they have checked that it extends every one they saw before.",
        "witnesses.none": "No witness has cosigned a checkpoint yet.",
        "witnesses.of": "Newest cosigned checkpoint: tree size",
        "witness.name": "Witness",
        "witness.time": "Cosigned at (UTC)",
        "witness.size": "Tree size",
        "witness.configured": "Witnesses this server accepts",
        "blocks.title": "Blocks",
        "blocks.none": "No blocks yet.",
        "blocks.height": "Height",
        "blocks.leaves": "Leaves",
        "blocks.first": "First leaf",
        "blocks.hash": "Block hash",
        "blocks.newer": "Newer blocks",
        "blocks.older": "Older blocks",
        "block.title": "Block",
        "block.prev": "Previous block hash",
        "block.leaf_count": "Leaves added",
        "block.leaves": "Leaves",
        "block.more": "More leaves",
        "block.back": "Earlier leaves",
        "leaf.index": "Index",
        "leaf.hash": "Leaf hash",
        "leaf.kind": "Kind",
        "kind.checkin": "check-in",
        "kind.audit": "audit entry",
        "kind.unknown": "other",
        "check.title": "Check a receipt",
        "check.intro": "Type the check-in id from your receipt. Your browser fetches the "
        "latest checkpoint and the inclusion proof, then checks the checkpoint's signature "
        "with the ledger key and the proof against the checkpoint's root itself: you need "
        "not trust this server.",
        "check.id": "Check-in id, or an audit entry's id (32 hex digits)",
        "fact.kind": "Leaf kind",
        "check.vkey": "Ledger verifier key",
        "check.vkey_hint": "The same key that “safecode ledger verify --vkey” takes. "
        "Paste your own copy if you do not trust this page's.",
        "check.witnesses": "Witness keys (one a line; optional)",
        "check.witnesses_hint": "With witness keys the page also checks their cosignatures "
        "and that the witnessed checkpoint and this one are the same log.",
        "check.witnessed": "Witnesses (checked in your browser)",
        "check.no_witnessed": "No witness has cosigned a checkpoint yet.",
        "witness.ok": "cosignature verified",
        "witness.bad": "no valid cosignature",
        "fact.cosigned_size": "Witnessed checkpoint tree size",
        "step.witnesses": "Witnessed checkpoint is the same log",
        "reason.bad_witness_key": "A witness key is not a valid witness key (name+key id+base64).",
        "reason.inconsistent": "The witnessed checkpoint and this one are not the same "
        "log: the ledger showed a different history.",
        "reason.no_cosigned_checkpoint": "No witness has cosigned a checkpoint yet.",
        "check.submit": "Check in my browser",
        "check.noscript": "This check runs in your browser and needs JavaScript.",
        "check.busy": "Checking…",
        "check.ok": "Verified in your browser",
        "check.ok_detail": "The checkpoint is signed by the ledger key and this check-in is "
        "one of its leaves.",
        "check.fail": "Not verified",
        "step.key": "Ledger key read",
        "step.checkpoint": "Checkpoint signature checked",
        "step.proof": "Proof names this id",
        "step.inclusion": "Proof leads to the checkpoint's root",
        "state.ok": "(passed)",
        "state.fail": "(failed)",
        "state.todo": "(not reached)",
        "fact.checkin": "Id",
        "fact.leaf_index": "Leaf index",
        "fact.block": "Block",
        "fact.tree_size": "Checkpoint tree size",
        "fact.root": "Root hash",
        "fact.leaf_hash": "Leaf hash",
        "fact.proof_length": "Proof hashes",
        "fact.signer": "Signed by",
        "reason.bad_id": "That is not a check-in id: it has 32 hex digits (0-9, a-f).",
        "reason.bad_key": "The ledger key is not a valid verifier key (name+key id+base64).",
        "reason.network": "The server could not be reached.",
        "reason.server_error": "The server answered with an error.",
        "reason.no_checkpoint": "The ledger has no checkpoint yet.",
        "reason.unknown_checkin": "The ledger knows no check-in or audit entry with this id.",
        "reason.not_sealed": "This check-in is not sealed into a block yet: try again in a minute.",
        "reason.malformed": "The server's answer is malformed.",
        "reason.malformed_checkpoint": "The signed note is not a checkpoint.",
        "reason.no_signature": "The checkpoint carries no signature by this key: "
        "a wrong key, or not this ledger.",
        "reason.bad_signature": "The checkpoint's signature does not verify: it was altered.",
        "reason.origin_mismatch": "The checkpoint is for another log than the key's.",
        "reason.wrong_tree": "The proof is for another checkpoint than the one checked.",
        "reason.not_bound": "The proof is for another leaf than this id's.",
        "reason.index_range": "The proof's leaf index is outside the tree.",
        "reason.proof_length": "The proof has the wrong number of hashes.",
        "reason.root_mismatch": "The proof does not lead to the checkpoint's root: it was altered.",
        "reason.unsupported": "This browser cannot check Ed25519 signatures (WebCrypto).",
        "reason.internal": "The check stopped on an unexpected error.",
        "error.title": "Not found",
        "error.block": "There is no such block.",
    },
    "ko": {
        "site": "safecode 원장",
        "nav.checkpoint": "최신 체크포인트",
        "nav.blocks": "블록",
        "nav.check": "영수증 확인",
        "nav.audit": "감사 기록",
        "audit.title": "감사 기록",
        "audit.intro": "사례 열람, 노출자 목록 작성, 연락처 복호화, 내보내기, 알림은 모두 "
        "같은 원장에 별도의 잎으로 기록되고 체크인처럼 서명·봉인됩니다. 여기에는 방문자가 "
        "나오지 않습니다.",
        "audit.none": "아직 봉인된 감사 기록이 없습니다.",
        "audit.time": "시각(UTC)",
        "audit.action": "작업",
        "audit.actor": "계정",
        "audit.role": "역할",
        "audit.case": "사례",
        "audit.reason": "밝힌 사유",
        "audit.counts": "건수",
        "audit.more": "이후 기록",
        "audit.first": "처음 기록",
        "switch": "English",
        "switch.label": "언어",
        "checkpoint.title": "최신 체크포인트",
        "checkpoint.none": "아직 봉인된 블록이 없습니다.",
        "checkpoint.intro": "원장의 현재 크기와 루트에 대한 서명된 진술입니다. "
        "누구나 원장 키로 확인할 수 있고, 증인이 연서합니다.",
        "checkpoint.origin": "출처",
        "checkpoint.size": "트리 크기(잎 수)",
        "checkpoint.root": "루트 해시",
        "checkpoint.block": "블록",
        "checkpoint.sealed": "봉인 시각(UTC)",
        "checkpoint.note": "서명된 노트",
        "checkpoint.signers": "서명",
        "checkpoint.vkey": "원장 검증 키",
        "checkpoint.vkey_none": "이 서버는 원장 키를 밝히지 않습니다. 운영자에게 문의하세요.",
        "signer.name": "키 이름",
        "signer.key_id": "키 ID",
        "signer.role": "역할",
        "signer.ledger": "원장 키",
        "signer.witness": "증인",
        "signer.unknown": "알 수 없는 키",
        "witnesses.title": "증인 연서",
        "witnesses.intro": "다른 기관이 운영하는 증인은 체크포인트가 이전에 본 모든 "
        "체크포인트를 확장하는지 확인한 뒤 연서합니다.",
        "witnesses.none": "아직 증인이 연서한 체크포인트가 없습니다.",
        "witnesses.of": "가장 최근에 연서된 체크포인트: 트리 크기",
        "witness.name": "증인",
        "witness.time": "연서 시각(UTC)",
        "witness.size": "트리 크기",
        "witness.configured": "이 서버가 받는 증인",
        "blocks.title": "블록",
        "blocks.none": "아직 블록이 없습니다.",
        "blocks.height": "높이",
        "blocks.leaves": "잎 수",
        "blocks.first": "첫 잎",
        "blocks.hash": "블록 해시",
        "blocks.newer": "더 최근 블록",
        "blocks.older": "이전 블록",
        "block.title": "블록",
        "block.prev": "이전 블록 해시",
        "block.leaf_count": "추가된 잎",
        "block.leaves": "잎",
        "block.more": "다음 잎",
        "block.back": "앞의 잎",
        "leaf.index": "번호",
        "leaf.hash": "잎 해시",
        "leaf.kind": "종류",
        "kind.checkin": "체크인",
        "kind.audit": "감사 기록",
        "kind.unknown": "기타",
        "check.title": "영수증 확인",
        "check.intro": "영수증에 있는 체크인 ID를 입력하세요. 브라우저가 최신 체크포인트와 "
        "포함 증명을 가져와 원장 키로 체크포인트 서명을, 체크포인트 루트로 증명을 직접 "
        "확인합니다. 이 서버를 믿을 필요가 없습니다.",
        "check.id": "체크인 ID 또는 감사 기록 ID(16진수 32자리)",
        "fact.kind": "잎 종류",
        "check.vkey": "원장 검증 키",
        "check.vkey_hint": "“safecode ledger verify --vkey”에 쓰는 것과 같은 키입니다. "
        "이 페이지의 키를 믿지 못한다면 직접 가진 키를 붙여 넣으세요.",
        "check.witnesses": "증인 키(한 줄에 하나, 선택)",
        "check.witnesses_hint": "증인 키가 있으면 연서도 확인하고, 증인이 본 체크포인트와 "
        "이 체크포인트가 같은 로그인지도 확인합니다.",
        "check.witnessed": "증인(브라우저에서 확인)",
        "check.no_witnessed": "아직 증인이 연서한 체크포인트가 없습니다.",
        "witness.ok": "연서 확인됨",
        "witness.bad": "유효한 연서 없음",
        "fact.cosigned_size": "증인이 본 체크포인트 트리 크기",
        "step.witnesses": "증인이 본 체크포인트와 같은 로그",
        "reason.bad_witness_key": "증인 키가 올바른 증인 키(이름+키 ID+base64)가 아닙니다.",
        "reason.inconsistent": "증인이 본 체크포인트와 이 체크포인트가 같은 로그가 아닙니다. "
        "원장이 다른 기록을 보여 주었습니다.",
        "reason.no_cosigned_checkpoint": "아직 증인이 연서한 체크포인트가 없습니다.",
        "check.submit": "내 브라우저에서 확인",
        "check.noscript": "이 확인은 브라우저에서 실행되며 자바스크립트가 필요합니다.",
        "check.busy": "확인 중…",
        "check.ok": "브라우저에서 검증됨",
        "check.ok_detail": "체크포인트는 원장 키로 서명되었고 이 체크인은 그 잎 중 하나입니다.",
        "check.fail": "검증 실패",
        "step.key": "원장 키 읽음",
        "step.checkpoint": "체크포인트 서명 확인",
        "step.proof": "증명이 이 ID를 가리킴",
        "step.inclusion": "증명이 체크포인트 루트로 이어짐",
        "state.ok": "(통과)",
        "state.fail": "(실패)",
        "state.todo": "(진행 안 됨)",
        "fact.checkin": "ID",
        "fact.leaf_index": "잎 번호",
        "fact.block": "블록",
        "fact.tree_size": "체크포인트 트리 크기",
        "fact.root": "루트 해시",
        "fact.leaf_hash": "잎 해시",
        "fact.proof_length": "증명 해시 수",
        "fact.signer": "서명한 키",
        "reason.bad_id": "체크인 ID가 아닙니다. 16진수(0-9, a-f) 32자리입니다.",
        "reason.bad_key": "원장 키가 올바른 검증 키(이름+키 ID+base64)가 아닙니다.",
        "reason.network": "서버에 연결할 수 없습니다.",
        "reason.server_error": "서버가 오류로 응답했습니다.",
        "reason.no_checkpoint": "원장에 아직 체크포인트가 없습니다.",
        "reason.unknown_checkin": "원장에 이 ID의 체크인이나 감사 기록이 없습니다.",
        "reason.not_sealed": "이 체크인은 아직 블록에 봉인되지 않았습니다. 잠시 후 다시 "
        "시도하세요.",
        "reason.malformed": "서버의 응답 형식이 잘못되었습니다.",
        "reason.malformed_checkpoint": "서명된 노트가 체크포인트가 아닙니다.",
        "reason.no_signature": "체크포인트에 이 키의 서명이 없습니다. 키가 틀렸거나 "
        "이 원장이 아닙니다.",
        "reason.bad_signature": "체크포인트 서명이 맞지 않습니다. 변조되었습니다.",
        "reason.origin_mismatch": "체크포인트가 키와 다른 로그의 것입니다.",
        "reason.wrong_tree": "증명이 확인한 체크포인트가 아닌 다른 체크포인트의 것입니다.",
        "reason.not_bound": "증명이 이 ID가 아닌 다른 잎의 것입니다.",
        "reason.index_range": "증명의 잎 번호가 트리 밖에 있습니다.",
        "reason.proof_length": "증명의 해시 개수가 틀립니다.",
        "reason.root_mismatch": "증명이 체크포인트 루트에 이르지 않습니다. 변조되었습니다.",
        "reason.unsupported": "이 브라우저는 Ed25519 서명(WebCrypto)을 확인할 수 없습니다.",
        "reason.internal": "예상하지 못한 오류로 확인이 멈췄습니다.",
        "error.title": "찾을 수 없음",
        "error.block": "그런 블록은 없습니다.",
    },
}

SCRIPT_PREFIXES = ("reason.", "step.", "state.", "fact.", "check.", "witness.", "kind.")
"""The strings the page's script needs (handed to it as JSON)."""


def choose(request: Request) -> tuple[str, bool]:
    """(language, explicit): ``?lang=`` if it names one, else Accept-Language, else English."""
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        return asked, True
    best = request.accept_languages.best_match(LANGUAGES, default=DEFAULT)
    return best or DEFAULT, False


def table(language: str) -> dict[str, str]:
    """The strings of ``language``."""
    return STRINGS[language]


def script_strings(language: str) -> dict[str, str]:
    """The strings the check page's script shows, in ``language``."""
    return {k: v for k, v in STRINGS[language].items() if k.startswith(SCRIPT_PREFIXES)}
