/**
 * Every string the wallet shows, one table per language. Text only: the UI puts these
 * in the page with textContent, never as HTML. `{name}` placeholders are filled by t().
 */

export const LANGUAGES = /** @type {const} */ (['ko', 'en'])

/** @type {Record<string, Record<string, string>>} */
export const MESSAGES = {
  en: {
    title: 'safecode wallet',
    langName: 'English',
    loading: 'Opening your wallet…',
    unsupported: 'This browser cannot keep the wallet\'s keys safely (it lacks Ed25519, X25519 or IndexedDB). Please update it or use another browser.',
    enrolTitle: 'Get your check-in code',
    enrolIntro: 'No account and no password. Your phone keeps its own keys; you show a code at the door.',
    phoneLabel: 'Mobile phone number',
    phoneHint: 'A number without + is read as +{cc}.',
    countryLabel: 'Country code',
    nameLabel: 'Name (optional)',
    langLabel: 'Language',
    consentTitle: 'What happens to your details',
    consentStored: 'Stored: your phone number, your name if you give one and your language, encrypted on this phone so that only the health authority can read them; the server also keeps a keyed fingerprint of the number, never the number itself.',
    consentWho: 'Who can read them: only the health authority, and only to reach you after a possible exposure. Venues and the operator of this service cannot.',
    consentDays: 'Your visits are kept for 28 days and then become unreadable. Your contact details stay until you leave (Settings → Leave).',
    consentCheck: 'I agree',
    enrolButton: 'Get my code',
    enrolling: 'Setting up your wallet…',
    phoneInvalid: 'That does not look like a mobile number.',
    nameInvalid: 'The name is too long or holds characters that cannot be used.',
    consentNeeded: 'Please agree first.',
    serverRefused: 'The server refused: {message}',
    networkError: 'No connection. Try again when you are online.',
    codeTitle: 'Your code for {date}',
    codeHint: 'Turn your screen brightness up and hold the code to the camera.',
    nextCode: 'New code in {s} s',
    offlineBanner: 'Offline: your code still works.',
    healthButton: 'Show to a health official',
    diagnosticTitle: 'Code for a health official',
    diagnosticHint: 'Show this only to a health official who asks for it: it lets them find your contact details.',
    back: 'Back',
    settings: 'Settings',
    offlineNoCredentials: 'You are offline and this phone holds no code for today. Connect to the internet once to get this week\'s codes.',
    noCredential: 'There is no code for today yet. Try again in a moment.',
    expired: 'Your codes have run out. The wallet will fetch new ones when it can.',
    unenrolled: 'This wallet was removed from the server. Please sign up again.',
    retry: 'Try again',
    settingsTitle: 'Settings',
    changePhoneTitle: 'Change phone number',
    changePhoneButton: 'Save new number',
    contactSaved: 'Saved. The health authority will use the new number.',
    leaveTitle: 'Leave',
    leaveText: 'Removes your contact details from the server at once, cancels your codes and wipes this wallet from the phone.',
    leaveButton: 'Leave and delete everything',
    leaveConfirm: 'Delete your wallet and contact details? This cannot be undone.',
    leaveOffline: 'Leaving needs a connection, so that the server deletes your details too.',
    left: 'Your wallet and contact details are deleted.',
    validUntil: 'Codes on this phone until {date}',
    noticeTitle: 'Exposure notice',
    noticeDates: 'The health authority found that a place you checked in to between {from} and {to} was visited at the same time by someone who has since tested positive.',
    noticeWhatToDo: 'What to do',
    noticePrivate: 'Only this phone knows about this notice: your wallet matched it here and sent nothing back.',
    noticePublished: 'Published {date}',
    noticeDismiss: 'Got it, hide this',
    noticesButton: 'Exposure notices ({n})',
    noticesTitle: 'Exposure notices',
    noticesKept: 'Notices stay on this phone for 28 days after they were published.'
  },
  ko: {
    title: '세이프코드 지갑',
    langName: '한국어',
    loading: '지갑을 여는 중…',
    unsupported: '이 브라우저는 지갑의 키를 안전하게 보관할 수 없습니다(Ed25519, X25519 또는 IndexedDB 미지원). 브라우저를 업데이트하거나 다른 브라우저를 사용해 주세요.',
    enrolTitle: '출입 코드 받기',
    enrolIntro: '계정도 비밀번호도 필요 없습니다. 키는 이 휴대전화에만 있고, 입구에서 코드를 보여 주면 됩니다.',
    phoneLabel: '휴대전화 번호',
    phoneHint: '+ 없이 입력한 번호는 +{cc} 번호로 읽습니다.',
    countryLabel: '국가 번호',
    nameLabel: '이름(선택)',
    langLabel: '언어',
    consentTitle: '개인정보는 이렇게 다룹니다',
    consentStored: '저장하는 것: 전화번호, 입력한 경우 이름, 언어. 이 휴대전화에서 암호화되어 보건 당국만 읽을 수 있습니다. 서버는 번호 자체가 아니라 번호의 키 기반 지문만 보관합니다.',
    consentWho: '읽을 수 있는 사람: 보건 당국뿐이며, 노출 가능성이 있을 때 연락하는 데에만 씁니다. 업소와 서비스 운영자는 읽을 수 없습니다.',
    consentDays: '방문 기록은 28일 동안 보관된 뒤 읽을 수 없게 됩니다. 연락처는 탈퇴할 때까지(설정 → 탈퇴) 보관됩니다.',
    consentCheck: '동의합니다',
    enrolButton: '코드 받기',
    enrolling: '지갑을 준비하는 중…',
    phoneInvalid: '휴대전화 번호 형식이 아닙니다.',
    nameInvalid: '이름이 너무 길거나 쓸 수 없는 문자가 있습니다.',
    consentNeeded: '먼저 동의해 주세요.',
    serverRefused: '서버가 거절했습니다: {message}',
    networkError: '인터넷에 연결되어 있지 않습니다. 연결되면 다시 시도해 주세요.',
    codeTitle: '{date} 출입 코드',
    codeHint: '화면 밝기를 높이고 코드를 카메라에 비춰 주세요.',
    nextCode: '{s}초 후 새 코드',
    offlineBanner: '오프라인: 코드는 그대로 쓸 수 있습니다.',
    healthButton: '보건 담당자에게 보여 주기',
    diagnosticTitle: '보건 담당자용 코드',
    diagnosticHint: '요청한 보건 담당자에게만 보여 주세요. 이 코드로 연락처를 찾을 수 있습니다.',
    back: '뒤로',
    settings: '설정',
    offlineNoCredentials: '오프라인 상태이고 이 휴대전화에 오늘 코드가 없습니다. 한 번 인터넷에 연결하면 이번 주 코드를 받습니다.',
    noCredential: '아직 오늘 코드가 없습니다. 잠시 후 다시 시도해 주세요.',
    expired: '코드를 모두 사용했습니다. 연결되면 지갑이 새 코드를 받아 옵니다.',
    unenrolled: '이 지갑은 서버에서 삭제되었습니다. 다시 가입해 주세요.',
    retry: '다시 시도',
    settingsTitle: '설정',
    changePhoneTitle: '전화번호 변경',
    changePhoneButton: '새 번호 저장',
    contactSaved: '저장했습니다. 보건 당국은 새 번호로 연락합니다.',
    leaveTitle: '탈퇴',
    leaveText: '서버에서 연락처를 즉시 지우고, 코드를 취소하고, 이 휴대전화에서 지갑을 지웁니다.',
    leaveButton: '탈퇴하고 모두 삭제',
    leaveConfirm: '지갑과 연락처를 삭제할까요? 되돌릴 수 없습니다.',
    leaveOffline: '서버에서도 정보를 지우려면 인터넷 연결이 필요합니다.',
    left: '지갑과 연락처를 삭제했습니다.',
    validUntil: '이 휴대전화의 코드는 {date}까지',
    noticeTitle: '노출 가능성 안내',
    noticeDates: '{from}부터 {to}까지 출입 기록을 남긴 장소에 이후 확진된 분이 같은 시간에 머물렀다고 보건 당국이 확인했습니다.',
    noticeWhatToDo: '이렇게 해 주세요',
    noticePrivate: '이 안내는 이 휴대전화만 알고 있습니다. 지갑이 휴대전화 안에서 확인했고, 아무것도 보내지 않았습니다.',
    noticePublished: '{date} 게시',
    noticeDismiss: '확인했습니다, 숨기기',
    noticesButton: '노출 안내 ({n})',
    noticesTitle: '노출 안내',
    noticesKept: '안내는 게시된 날부터 28일 동안 이 휴대전화에 보관됩니다.'
  }
}

/**
 * The browser's preferred language if the wallet has it, else Korean.
 * @param {readonly string[]} preferred navigator.languages
 */
export function pickLanguage (preferred) {
  for (const tag of preferred || []) {
    const base = String(tag).toLowerCase().split('-')[0]
    if (LANGUAGES.includes(/** @type {any} */ (base))) return base
  }
  return 'ko'
}

/**
 * A message in `lang` with its placeholders filled.
 * @param {string} lang
 * @param {string} key
 * @param {Record<string, string|number>} [params]
 */
export function t (lang, key, params = {}) {
  const table = MESSAGES[lang] || MESSAGES.ko
  const text = table[key] ?? MESSAGES.en[key] ?? key
  return text.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ''))
}
