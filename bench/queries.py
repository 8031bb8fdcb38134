"""Fixed French questions about the default corpus (from the evaluation set), used as search queries."""

QUESTIONS = [
    "Qui a fondé la start-up chinoise DeepSeek ?",
    "De combien l'indice Nasdaq Composite a-t-il reculé à l'ouverture de Wall Street ?",
    "Comment s'appelle la stratégie de DeepSeek consistant à tirer parti de GPU moins performants ?",
    "Quel essayiste, auteur du « Cygne noir », a jugé que nous vivons des moments historiques avec DeepSeek ?",
    "À quel animal dans un jeu de quilles le blog compare-t-il DeepSeek ?",
    "Combien de puces Nvidia ChatGPT utilise-t-il, d'après le corpus ?",
    "Quelles entreprises se sont associées à OpenAI pour former la co-entreprise Stargate ?",
    "Combien Meta prévoit-elle d'investir dans l'IA cette année ?",
    "À quelle date Jensen Huang, le patron de Nvidia, est-il allé voir Donald Trump ?",
    "Combien de nouveaux bâtiments Larry Ellison a-t-il annoncé vouloir construire au Texas ?",
    "Quelle entreprise chinoise a détrôné Apple sur le marché chinois des mobiles ?",
    "Quel corps de l'armée américaine a interdit à son personnel d'utiliser DeepSeek ?",
    "De quelles universités chinoises sont issus la plupart des chercheurs recrutés par Liang ?",
    "Dans quel format numérique de précision DeepSeek entraîne-t-elle ses modèles ?",
    "Comment Donald Trump a-t-il qualifié l'irruption de DeepSeek lundi soir ?",
    "Quels territoires Trump menace-t-il d'envahir pour contenir la Chine ?",
]

# the generation benchmark: three typical factual questions whose answers are in the corpus
TYPICAL = [QUESTIONS[0], QUESTIONS[1], QUESTIONS[6]]
