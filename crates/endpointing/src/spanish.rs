//! Spanish cues: the same [`Cue`]s as English, found with Spanish word lists.
//!
//! Spanish leaves a turn open on the same kinds of words English does (a preposition, an article, a
//! conjunction, a verb waiting for its complement: `Quiero reservar una limpieza para el`), asks for time with
//! its own phrases (`un momento`, `déjeme ver`) and reads numbers out with its own number words. The lists are
//! written for Spanish, not translated from the English ones.

use crate::decide::{Cue, Cues, Ending, Turn, ending_of, ends_with_phrase, find_phrase, normalized, words};

/// Logit before any cue fires: like English, an utterance with no cue leans complete.
pub(crate) const BIAS: f64 = 0.8;

/// Detects the Spanish cues of a turn.
pub(crate) fn detect(turn: &Turn<'_>) -> Cues {
    let mut cues = Cues::EMPTY;
    let lower = normalized(turn.user);
    let all = words(&lower);
    let Some(&last) = all.last() else {
        return cues;
    };
    let ending = ending_of(&lower);
    if let Some(cue) = ending.cue() {
        cues.insert(cue);
    }
    let n = all.len();
    let context = turn.assistant.map(normalized).unwrap_or_default();
    let context_words = words(&context);

    if n <= 6 && all.iter().all(|w| is_ack_word(w)) && !is_open_ack_end(last) {
        cues.insert(Cue::Acknowledgement);
    }
    let first = all[0];
    if n >= 3 && (is_wh_word(first) || lower.trim_start().starts_with('¿') || is_question_verb(first)) {
        cues.insert(Cue::QuestionForm);
    }
    if FILLER_PHRASES.iter().any(|p| ends_with_phrase(&all, p)) || is_filler(last) {
        cues.insert(Cue::TrailingFiller);
    } else if is_conjunction(last) {
        cues.insert(Cue::TrailingConjunction);
    } else if is_preposition(last) {
        cues.insert(Cue::TrailingPreposition);
    } else if is_article(last) {
        cues.insert(Cue::TrailingArticle);
    } else if is_auxiliary(last) {
        cues.insert(Cue::TrailingAuxiliary);
    } else if is_complement_verb(last) {
        cues.insert(Cue::TrailingVerb);
    } else if is_sentence_final(last) {
        cues.insert(Cue::SentenceFinalWord);
    }
    if STOP_PHRASES.iter().any(|p| find_phrase(&all, p).is_some()) {
        cues.insert(Cue::StopRequest);
    } else if HOLD_PHRASES.iter().any(|p| find_phrase(&all, p).is_some()) {
        cues.insert(Cue::HoldRequest);
    }
    if HEDGES.iter().any(|p| ends_with_phrase(&all, p)) {
        cues.insert(Cue::Hedge);
        cues.remove(Cue::TrailingVerb);
    }
    detect_dictation(&all, &context_words, ending, &mut cues);
    if !context_words.is_empty() && n <= 4 && !matches!(ending, Ending::Ellipsis | Ending::Comma | Ending::Dash) {
        let negative = Cue::ALL.iter().any(|c| c.weight() < 0.0 && cues.contains(*c));
        if !negative {
            cues.insert(Cue::AnswersQuestion);
        }
    }
    if cues.contains(Cue::Acknowledgement) || cues.contains(Cue::Dictation) {
        cues.remove(Cue::AnswersQuestion);
        cues.remove(Cue::SentenceFinalWord);
    }
    if cues.contains(Cue::Acknowledgement) {
        // `no`, `bueno` and `eso es` end acknowledgements too; the lexicon above would read them as open.
        for cue in [Cue::TrailingAuxiliary, Cue::TrailingFiller, Cue::TrailingArticle] {
            cues.remove(cue);
        }
    }
    cues
}

fn detect_dictation(all: &[&str], context: &[&str], ending: Ending, cues: &mut Cues) {
    let start = all.iter().rposition(|w| !is_number_token(w)).map_or(0, |i| i + 1);
    let readout = &all[start..];
    let digits: usize = readout
        .iter()
        .map(|w| {
            if w.bytes().all(|b| b.is_ascii_digit()) {
                w.len()
            } else {
                1
            }
        })
        .sum();
    let asked_data = context.iter().any(|w| is_data_noun(w));
    let asked_phone = context
        .iter()
        .any(|w| matches!(*w, "teléfono" | "telefono" | "celular" | "móvil"));
    let closed = matches!(ending, Ending::Stop | Ending::Question);
    if asked_phone && digits >= 10 {
        cues.insert(Cue::DictationComplete);
    } else if (asked_data && !readout.is_empty() && !closed)
        || (readout.len() >= 3 && !closed)
        || digits >= 4 && !closed
    {
        cues.insert(Cue::Dictation);
    }
}

fn is_number_token(w: &str) -> bool {
    w.bytes().all(|b| b.is_ascii_digit())
        || matches!(
            w,
            "cero"
                | "uno"
                | "dos"
                | "tres"
                | "cuatro"
                | "cinco"
                | "seis"
                | "siete"
                | "ocho"
                | "nueve"
                | "diez"
                | "once"
                | "doce"
                | "veinte"
                | "treinta"
                | "cuarenta"
                | "cincuenta"
                | "sesenta"
                | "setenta"
                | "ochenta"
                | "noventa"
                | "cien"
                | "ciento"
                | "mil"
        )
}

fn is_data_noun(w: &str) -> bool {
    matches!(
        w,
        "número"
            | "numero"
            | "teléfono"
            | "telefono"
            | "celular"
            | "correo"
            | "código"
            | "codigo"
            | "cuenta"
            | "dirección"
            | "direccion"
            | "fecha"
            | "póliza"
            | "poliza"
            | "tarjeta"
            | "pedido"
            | "confirmación"
    )
}

fn is_ack_word(w: &str) -> bool {
    matches!(
        w,
        "sí" | "si"
            | "no"
            | "vale"
            | "gracias"
            | "muchas"
            | "mil"
            | "de"
            | "acuerdo"
            | "claro"
            | "perfecto"
            | "perfecta"
            | "muy"
            | "bien"
            | "bueno"
            | "ok"
            | "okay"
            | "listo"
            | "entendido"
            | "exacto"
            | "correcto"
            | "genial"
            | "excelente"
            | "está"
            | "esta"
            | "eso"
            | "es"
            | "todo"
            | "nada"
            | "más"
            | "adiós"
            | "adios"
            | "hasta"
            | "luego"
            | "por"
            | "favor"
            | "señor"
            | "señora"
            | "dale"
            | "ya"
            | "seguro"
            | "supuesto"
            | "gusto"
            | "igualmente"
            | "estupendo"
            | "funciona"
            | "me"
            | "sirve"
            | "parece"
    )
}

fn is_open_ack_end(w: &str) -> bool {
    matches!(w, "de" | "muy" | "por" | "hasta" | "me" | "muchas" | "mil")
}

fn is_wh_word(w: &str) -> bool {
    matches!(
        w,
        "qué"
            | "que"
            | "cuándo"
            | "cuando"
            | "dónde"
            | "donde"
            | "cómo"
            | "como"
            | "cuál"
            | "cual"
            | "cuáles"
            | "cuánto"
            | "cuanto"
            | "cuánta"
            | "cuántos"
            | "cuantos"
            | "quién"
            | "quien"
            | "adónde"
    )
}

fn is_question_verb(w: &str) -> bool {
    matches!(
        w,
        "puede" | "podría" | "podria" | "puedo" | "tienen" | "hay" | "aceptan" | "abren"
    )
}

fn is_conjunction(w: &str) -> bool {
    matches!(
        w,
        "y" | "e"
            | "o"
            | "u"
            | "pero"
            | "porque"
            | "que"
            | "aunque"
            | "si"
            | "cuando"
            | "pues"
            | "ni"
            | "mientras"
            | "como"
            | "sino"
            | "entonces"
            | "donde"
    )
}

fn is_preposition(w: &str) -> bool {
    matches!(
        w,
        "a" | "de"
            | "en"
            | "para"
            | "por"
            | "con"
            | "sin"
            | "sobre"
            | "hasta"
            | "desde"
            | "entre"
            | "hacia"
            | "según"
            | "contra"
            | "al"
            | "del"
            | "tras"
    )
}

fn is_article(w: &str) -> bool {
    matches!(
        w,
        "el" | "la"
            | "los"
            | "las"
            | "un"
            | "una"
            | "unos"
            | "unas"
            | "mi"
            | "mis"
            | "tu"
            | "tus"
            | "su"
            | "sus"
            | "nuestro"
            | "nuestra"
            | "nuestros"
            | "nuestras"
            | "este"
            | "esta"
            | "estos"
            | "estas"
            | "ese"
            | "esa"
            | "esos"
            | "esas"
            | "cada"
            | "otro"
            | "otra"
            | "algún"
            | "alguna"
            | "ningún"
            | "ninguna"
            | "lo"
            | "le"
            | "les"
            | "me"
            | "te"
            | "se"
            | "nos"
    )
}

fn is_auxiliary(w: &str) -> bool {
    matches!(
        w,
        "es" | "está"
            | "son"
            | "están"
            | "estoy"
            | "soy"
            | "era"
            | "fue"
            | "he"
            | "ha"
            | "han"
            | "hemos"
            | "hay"
            | "voy"
            | "va"
            | "vamos"
            | "van"
            | "estaba"
            | "sería"
            | "tengo"
            | "tiene"
            | "tenemos"
            | "debo"
            | "puedo"
            | "puede"
            | "podemos"
            | "podría"
    )
}

fn is_complement_verb(w: &str) -> bool {
    matches!(
        w,
        "quiero"
            | "quiere"
            | "queremos"
            | "quisiera"
            | "quería"
            | "necesito"
            | "necesita"
            | "necesitamos"
            | "gustaría"
            | "busco"
            | "buscando"
            | "tratando"
            | "intentando"
            | "llamando"
            | "reservar"
            | "hacer"
            | "cambiar"
            | "cancelar"
            | "pagar"
            | "pedir"
            | "saber"
            | "preguntar"
            | "hablar"
            | "sacar"
            | "programar"
            | "agendar"
    )
}

fn is_filler(w: &str) -> bool {
    matches!(
        w,
        "eh" | "em" | "emm" | "mmm" | "ehh" | "este" | "pues" | "digamos" | "tipo"
    )
}

fn is_sentence_final(w: &str) -> bool {
    matches!(
        w,
        "gracias" | "favor" | "hoy" | "mañana" | "ya" | "bien" | "nada" | "todo" | "aquí" | "ahora" | "tarde" | "noche"
    )
}

const FILLER_PHRASES: &[&[&str]] = &[
    &["o", "sea"],
    &["es", "decir"],
    &["bueno", "este"],
    &["cómo", "se", "dice"],
];

const HEDGES: &[&[&str]] = &[
    &["creo", "que", "sí"],
    &["creo", "que", "no"],
    &["supongo"],
    &["tal", "vez"],
    &["quizás"],
    &["quizá"],
    &["a", "lo", "mejor"],
    &["no", "sé"],
];

const HOLD_PHRASES: &[&[&str]] = &[
    &["un", "momento"],
    &["un", "momentito"],
    &["un", "segundo"],
    &["un", "segundito"],
    &["un", "minuto"],
    &["espere"],
    &["espera"],
    &["esperen"],
    &["déjeme", "ver"],
    &["dejeme", "ver"],
    &["déjame", "ver"],
    &["dejame", "ver"],
    &["déjeme", "buscar"],
    &["déjame", "buscar"],
    &["déjeme", "revisar"],
    &["permítame"],
    &["permitame"],
    &["aguarde"],
];

const STOP_PHRASES: &[&[&str]] = &[
    &["cállate"],
    &["cállese"],
    &["callate"],
    &["callese"],
    &["silencio"],
    &["deja", "de", "hablar"],
    &["deje", "de", "hablar"],
    &["para", "de", "hablar"],
    &["pare", "de", "hablar"],
    &["déjeme", "terminar"],
    &["dejeme", "terminar"],
    &["déjame", "terminar"],
    &["dejame", "terminar"],
    &["déjeme", "hablar"],
    &["déjame", "hablar"],
    &["no", "he", "terminado"],
    &["basta"],
];
